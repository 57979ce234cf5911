"""``Method.check_recipe``: a method's own options checked against its sections at validation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

import pytest

from jepa_kit.cli.app import main
from jepa_kit.config import ComponentConfig
from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.methods.base import MethodConfig
from jepa_kit.methods.lejepa import LeJEPA
from jepa_kit.predictors.vit_predictor import ViTPredictor
from jepa_kit.recipe import RecipeError, validate_recipe
from jepa_kit.registry import registry
from tests.conftest import REPO

QUICKSTART = str(REPO / "recipes" / "quickstart.toml")
SMALL = {"data": {"img_size": 32}, "encoder": {"patch_size": 4}, "masker": {"min_keep": 4}}


def _validate(capsys: pytest.CaptureFixture[str], *sets: str) -> tuple[int, str]:
    args = ["validate", QUICKSTART]
    for item in sets:
        args += ["--set", item]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), " ".join((captured.out + captured.err).split())


class UnpaddedViT(ViTEncoder):
    """The ViT without the fixed-shape path, as a plug-in encoder may be."""

    accepts_padding = False

    class Config(ViTEncoder.Config):
        kind: Literal["unpadded_vit"] = "unpadded_vit"  # type: ignore[assignment]


@pytest.fixture
def unpadded_vit() -> Iterator[None]:
    registry("encoder").register("unpadded_vit", UnpaddedViT)
    try:
        yield
    finally:
        registry("encoder").unregister("unpadded_vit")


def test_length_bucket_with_an_encoder_without_padding_exits_2_at_validate(
        unpadded_vit: None, capsys: pytest.CaptureFixture[str]) -> None:
    # A new encoder.kind drops the section's other options: the quickstart's patch size again.
    unpadded = ("encoder.kind=unpadded_vit", "encoder.patch_size=4")
    code, said = _validate(capsys, *unpadded, "method.length_bucket=16")
    assert code == 2, said
    assert ("method.length_bucket=16 needs an encoder that accepts padded indices; "
            "encoder.kind='unpadded_vit' does not (set method.length_bucket = 0" in said)
    assert "Traceback" not in said
    # Without the bucket the same encoder validates.
    code, said = _validate(capsys, *unpadded)
    assert code == 0 and "ok" in said, said


def test_length_bucket_with_a_predictor_without_padding(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ViTPredictor, "accepts_padding", False)
    with pytest.raises(RecipeError) as info:
        validate_recipe({**SMALL, "method": {"length_bucket": 8}})
    assert info.value.problems == [("", (
        "method.length_bucket=8 needs a predictor that accepts padded indices; "
        "predictor.kind='vit_predictor' does not (set method.length_bucket = 0, or use "
        "vit / timm / vit_predictor)"))]
    code, said = _validate(capsys, "method.length_bucket=16")
    assert code == 2 and "predictor.kind='vit_predictor' does not" in said, said
    assert validate_recipe({**SMALL, "method": {"length_bucket": 0}}).method.length_bucket == 0


class SeenBy(LeJEPA):
    """A plug-in method whose option must agree with its views: ``min_views`` global views."""

    seen: ClassVar[list[tuple[Any, dict[str, str]]]] = []

    class Config(LeJEPA.Config):
        kind: Literal["seen_by"] = "seen_by"  # type: ignore[assignment]

    @classmethod
    def check_recipe(cls, config: MethodConfig, sections: Mapping[str, ComponentConfig]
                     ) -> None:
        super().check_recipe(config, sections)  # keeps LeJEPA's check_sections
        cls.seen.append((config, {slot: c.kind for slot, c in sections.items()}))
        views = sections["views"].num_global  # type: ignore[attr-defined]
        if config.num_slices < 64 * views:  # type: ignore[attr-defined]
            raise ValueError(f"method.num_slices={config.num_slices} is too few for "  # type: ignore[attr-defined]
                             f"views.num_global={views}; expected at least {64 * views}")


@pytest.fixture
def seen_by() -> Iterator[type[SeenBy]]:
    registry("method").register("seen_by", SeenBy)
    SeenBy.seen.clear()
    try:
        yield SeenBy
    finally:
        registry("method").unregister("seen_by")


def test_a_method_sees_its_config_and_its_sections(seen_by: type[SeenBy]) -> None:
    recipe = validate_recipe({"method": {"kind": "seen_by", "num_slices": 256}})
    config, kinds = seen_by.seen[-1]
    assert config == recipe.method and config.num_slices == 256
    assert kinds == {"encoder": "vit", "projector": "mlp", "views": "multicrop"}
    with pytest.raises(RecipeError, match=r"method.num_slices=64 is too few for "
                       r"views.num_global=2; expected at least 128"):
        validate_recipe({"method": {"kind": "seen_by", "num_slices": 64}})
    # The default check_recipe still runs the inherited check_sections.
    with pytest.raises(RecipeError, match=r"views.kind='single' has no global views"):
        validate_recipe({"method": {"kind": "seen_by"}, "views": {"kind": "single"}})
