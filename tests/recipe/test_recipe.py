"""Recipe validation: every class of error with its message, composition, round trip, schema."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import torch
from pydantic import Field

from jepa_kit.errors import UserError
from jepa_kit.losses.base import Loss, LossConfig
from jepa_kit.recipe import (
    RecipeError,
    apply_overrides,
    load_recipe,
    parse_value,
    recipe_schema,
    recipe_to_toml,
    validate_recipe,
)
from jepa_kit.registry import registry
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart.toml"
# Ablation files (recipes/ablations/) name a base recipe and variants; tests/sweep checks them.
SHIPPED = sorted((REPO / "recipes").glob("*.toml"))


def problems(path: Path, *overrides: str) -> list[tuple[str, str]]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    assert str(path) in str(info.value)
    return info.value.problems


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_recipe_validates(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.grid[-1] * recipe.patch_size == recipe.img_size


def test_unknown_kind_suggests_the_closest_name() -> None:
    [(key, msg)] = problems(QUICKSTART, "masker.kind=multiblok")
    assert key == "masker.kind"
    assert "unknown masker 'multiblok'" in msg and "Did you mean 'multiblock'?" in msg


def test_wrong_type_names_the_key_and_value() -> None:
    [(key, msg)] = problems(QUICKSTART, "encoder.patch_size=abc")
    assert key == "encoder.patch_size"
    assert "valid integer" in msg and "'abc'" in msg


def test_unknown_key_is_refused_with_valid_keys() -> None:
    [(key, msg)] = problems(QUICKSTART, "masker.no_such_field=1")
    assert key == "masker.no_such_field"
    assert "unknown key" in msg and "min_keep" in msg


def test_unknown_section_suggests_closest() -> None:
    [(key, msg)] = problems(QUICKSTART, "trian.epochs=3")
    assert key == "trian" and "Did you mean 'train'?" in msg


def test_out_of_bounds_value() -> None:
    [(key, msg)] = problems(QUICKSTART, "train.batch_size=0")
    assert key == "train.batch_size" and "greater than or equal to 1" in msg and "(given: 0)" in msg


def test_cross_field_patch_divisibility() -> None:
    [(_, msg)] = problems(QUICKSTART, "data.img_size=30")
    assert "data.img_size=30 is not divisible" in msg and "encoder.patch_size" in msg


def test_infeasible_masker_is_refused_at_validation() -> None:
    found = problems(QUICKSTART, "data.img_size=64", "encoder.patch_size=8", "masker.min_keep=10")
    assert any("masker.min_keep" in msg for _, msg in found)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 1\n")
    [(_, msg)] = problems(bad)
    assert "not valid TOML" in msg
    [(_, msg)] = problems(tmp_path / "nope.toml")
    assert msg == "no such recipe file"


def test_overrides_parse_values_as_toml() -> None:
    assert parse_value("3") == 3 and parse_value("1e-3") == 1e-3 and parse_value("true") is True
    assert parse_value("[0.1, 0.2]") == [0.1, 0.2] and parse_value("vit") == "vit"
    recipe = load_recipe(QUICKSTART, ["train.epochs=3", "optim.betas=[0.8, 0.9]",
                                      "run.name=abc"])
    assert recipe.train.epochs == 3 and recipe.optim.betas == (0.8, 0.9)
    assert recipe.output_dir == Path("runs/abc")
    with pytest.raises(RecipeError, match="expected dotted.key=value"):
        apply_overrides({}, ["train.epochs"])


def test_changing_kind_resets_the_section() -> None:
    recipe = load_recipe(QUICKSTART, ["loss.kind=smooth_l1"])
    assert recipe.loss.kind == "smooth_l1" and recipe.loss.beta == 1.0


def test_extends_deep_merges_relative_to_the_file(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(QUICKSTART.read_text())
    sub = tmp_path / "variants" / "v.toml"
    sub.parent.mkdir()
    sub.write_text('extends = "../base.toml"\n[predictor]\ndepth = 3\n[loss]\nkind = "smooth_l1"\n')
    recipe = load_recipe(sub)
    assert recipe.predictor.depth == 3 and recipe.predictor.embed_dim == 64  # merged
    assert recipe.loss.kind == "smooth_l1"
    loop = tmp_path / "loop.toml"
    loop.write_text('extends = "loop.toml"\n')
    [(key, msg)] = problems(loop)
    assert key == "extends" and "circular" in msg


def test_show_round_trips(tmp_path: Path) -> None:
    recipe = load_recipe(QUICKSTART, ["masker.mode=reference"])
    again = tmp_path / "resolved.toml"
    again.write_text(recipe_to_toml(recipe))
    assert load_recipe(again) == recipe


def test_schema_covers_installed_components() -> None:
    schema = recipe_schema()
    assert set(schema["properties"]) >= {"run", "data", "encoder", "masker", "train"}
    text = str(schema)
    assert "multiblock" in text and "smooth_l1" in text and "vit_predictor" in text



class _ScaledL1(Loss):
    class Config(LossConfig):
        kind: Literal["scaled_l1"] = "scaled_l1"
        alpha: float = Field(1.0, gt=0, description="Factor.")

    def __init__(self, config: Config) -> None:
        super().__init__()

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (predictions - targets).abs().mean()


class _ScaledL1Renamed(_ScaledL1):
    class Config(LossConfig):
        kind: Literal["scaled_l1"] = "scaled_l1"
        beta: float = Field(1.0, gt=0, description="Factor.")


def test_replacing_a_component_under_its_name_updates_the_recipe_model() -> None:
    losses = registry("loss")
    try:
        losses.register("scaled_l1", _ScaledL1)
        assert validate_recipe({"loss": {"kind": "scaled_l1", "alpha": 2.0}}).loss.alpha == 2.0
        losses.register("scaled_l1", _ScaledL1Renamed, replace=True)
        assert validate_recipe({"loss": {"kind": "scaled_l1", "beta": 3.0}}).loss.beta == 3.0
        with pytest.raises(RecipeError, match=r"loss\.alpha"):
            validate_recipe({"loss": {"kind": "scaled_l1", "alpha": 2.0}})
    finally:
        losses.unregister("scaled_l1")


def test_the_vith14_recipe_shards_with_fsdp_and_strategy_is_checked() -> None:
    recipe = load_recipe(REPO / "recipes" / "ijepa_vith14_in1k.toml")
    assert recipe.distributed.strategy == "fsdp"  # type: ignore[attr-defined]
    assert recipe.train.checkpoint_format == "sharded" and recipe.train.async_checkpoint
    assert load_recipe(REPO / "recipes" / "quickstart.toml").distributed.strategy == "ddp"  # type: ignore[attr-defined]
    with pytest.raises(UserError, match=r"distributed\.strategy.*'ddp' or 'fsdp'"):
        load_recipe(REPO / "recipes" / "quickstart.toml", ['distributed.strategy="zero3"'])
