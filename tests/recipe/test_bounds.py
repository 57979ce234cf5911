"""Model sizes: stated bounds on the size fields, and weights that must fit this machine."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from jepa_kit import sizing
from jepa_kit.cli.app import main
from jepa_kit.recipe import RecipeError, load_recipe, parse_value
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart.toml"
LEJEPA = REPO / "recipes" / "quickstart_lejepa.toml"
VIDEO = REPO / "recipes" / "quickstart_video.toml"


def problems(path: Path, *overrides: str) -> list[tuple[str, str]]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return info.value.problems


@pytest.mark.parametrize(("path", "override", "key", "bound"), [
    (QUICKSTART, "encoder.depth=10000", "encoder.depth", "less than or equal to 256"),
    (QUICKSTART, "encoder.embed_dim=1e7", "encoder.embed_dim", "less than or equal to 16384"),
    (QUICKSTART, "encoder.num_heads=1000", "encoder.num_heads", "less than or equal to 256"),
    (QUICKSTART, "encoder.mlp_ratio=1000", "encoder.mlp_ratio", "less than or equal to 64"),
    (QUICKSTART, "predictor.depth=300", "predictor.depth", "less than or equal to 256"),
    (QUICKSTART, "predictor.embed_dim=20000", "predictor.embed_dim", "less than or equal to "
                                                                     "16384"),
    (VIDEO, "predictor.depth=300", "predictor.depth", "less than or equal to 256"),
    (LEJEPA, "projector.hidden_dim=100000", "projector.hidden_dim", "less than or equal to "
                                                                     "65536"),
])
def test_size_fields_have_stated_bounds(path: Path, override: str, key: str, bound: str) -> None:
    [(got, msg)] = problems(path, override)
    assert got == key
    assert bound in msg and msg.endswith(f"(given: {parse_value(override.split('=')[1])!r})")


def test_weights_larger_than_memory_are_refused_naming_the_section(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The quickstart's ~1M parameters (4 MB) against a machine of 1 MB.
    monkeypatch.setattr(sizing, "physical_memory", lambda: 1 << 20)
    [(key, msg)] = problems(QUICKSTART, "encoder.depth=12")
    assert key == "encoder"
    assert msg.startswith("the networks' fp32 weights alone take ")
    assert "(encoder " in msg and ", target_encoder " in msg and ", predictor " in msg
    assert "more than this machine's 1.0 MiB of memory; expected sizes whose weights fit" in msg
    # The predictor holds under a tenth of the weights: not the section to shrink.
    assert msg.endswith("(given: encoder.size='tiny', encoder.embed_dim=96, encoder.depth=12, "
                        "encoder.num_heads=3)")


def test_every_large_section_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizing, "physical_memory", lambda: 1 << 20)
    [(key, msg)] = problems(LEJEPA, "projector.hidden_dim=512")
    assert key == "encoder, projector"
    assert "encoder.depth=4" in msg and "projector.hidden_dim=512" in msg


def test_sizes_within_bounds_that_no_machine_holds_exit_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    # Within every field bound: 64 blocks of width 8192, twice (the EMA copy), ~400 GB.
    with pytest.raises(SystemExit) as done:
        main(["validate", str(QUICKSTART), "--set", "encoder.depth=64", "--set",
              "encoder.embed_dim=8192", "--set", "encoder.num_heads=16"])
    err = capsys.readouterr().err
    if sizing.physical_memory() is not None and sizing.physical_memory() > 400e9:
        pytest.skip("this machine holds 400 GB")
    assert done.value.code == 2
    assert "encoder: the networks' fp32 weights alone take 384.1 GiB" in err
    assert "encoder.embed_dim=8192, encoder.depth=64" in err


def test_counting_on_meta_matches_the_real_build() -> None:
    from jepa_kit.build import build_method

    recipe = load_recipe(VIDEO)
    counts = sizing.count_parameters(recipe)
    real = build_method(recipe)
    assert counts == {name: sum(p.numel() for p in net.parameters())
                      for name, net in real.networks.items()}


def test_the_check_leaves_the_random_streams_alone() -> None:
    sizing._COUNTS.clear()
    torch.manual_seed(3)
    random.seed(3)
    load_recipe(QUICKSTART, ["encoder.depth=5"])
    after = torch.rand(1), random.random()
    torch.manual_seed(3)
    random.seed(3)
    assert after == (torch.rand(1), random.random())


def test_unknown_memory_or_an_unbuildable_method_skips_the_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizing, "physical_memory", lambda: None)
    assert load_recipe(QUICKSTART).encoder.kind == "vit"
    monkeypatch.setattr(sizing, "physical_memory", lambda: 1)
    monkeypatch.setattr(sizing, "count_parameters", lambda recipe: None)
    assert load_recipe(QUICKSTART).encoder.kind == "vit"


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_recipes_fit_a_16_gib_machine(path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    # The largest, ViT-H/14 with its EMA copy, holds ~1.3B parameters (5 GB).
    monkeypatch.setattr(sizing, "physical_memory", lambda: 16 << 30)
    load_recipe(path)


def test_a_pretrained_timm_encoder_is_counted_without_downloading(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import timm.models._builder as builder

    def offline(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation tried to load pretrained weights")

    monkeypatch.setattr(builder, "load_pretrained", offline)
    recipe = load_recipe(LEJEPA, ["encoder.kind='timm'",
                                  "encoder.model_name='vit_tiny_patch16_224'",
                                  "encoder.pretrained=true", "data.img_size=32"])
    counts = sizing.count_parameters(recipe)
    assert counts is not None and counts["encoder"] > 5_000_000
