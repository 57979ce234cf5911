"""``check_component`` / ``check_method``: the sections and small configs a method is checked
with, and build errors as ``AssertionError`` with their cause."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import pytest

import jepa_kit.build
from jepa_kit.config import ComponentConfig
from jepa_kit.methods.base import MethodConfig
from jepa_kit.methods.lejepa import LeJEPA
from jepa_kit.recipe import RecipeError
from jepa_kit.registry import registry
from jepa_kit.testing import SMALL_CONFIGS, check_component, check_method


@pytest.fixture
def built_recipes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every recipe the check builds a method from."""
    seen: list[Any] = []
    original = jepa_kit.build.build_method

    def record(recipe: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(recipe)
        return original(recipe, *args, **kwargs)

    monkeypatch.setattr(jepa_kit.build, "build_method", record)
    return seen


def test_sections_set_the_encoder_a_method_is_checked_with(built_recipes: list[Any]) -> None:
    check_component("method", "lejepa", sections={"encoder": {"depth": 3}})
    encoder = built_recipes[0].encoder
    # The small config's other options stay (a 48-wide tiny ViT, patch 8); only depth moved.
    assert (encoder.depth, encoder.embed_dim, encoder.patch_size) == (3, 48, 8)


def test_configs_replace_small_configs_entry_by_entry(built_recipes: list[Any]) -> None:
    deeper = {**SMALL_CONFIGS[("encoder", "vit")], "depth": 2}  # type: ignore[dict-item]
    check_component("method", "lejepa", configs={("encoder", "vit"): deeper})
    recipe = built_recipes[0]
    assert recipe.encoder.depth == 2
    assert recipe.projector.hidden_dim == 32  # still SMALL_CONFIGS' projector


def test_sections_merge_over_method_sections(built_recipes: list[Any]) -> None:
    # vjepa's METHOD_SECTIONS build its encoder for 4-frame clips; depth comes on top.
    check_component("method", "vjepa", sections={"encoder": {"depth": 2}})
    encoder = built_recipes[0].encoder
    assert (encoder.num_frames, encoder.depth) == (4, 2)


def test_sections_are_for_methods_only() -> None:
    with pytest.raises(ValueError, match=r"check_component\('loss', 'l2', sections=...\): "
                       "only a method has slot sections"):
        check_component("loss", "l2", sections={"encoder": {}})


class BrokenBuild(LeJEPA):
    class Config(LeJEPA.Config):
        kind: Literal["broken_build"] = "broken_build"  # type: ignore[assignment]

    def __init__(self, config: Any, **kwargs: Any) -> None:
        raise ValueError("projector.out_dim=16 is too narrow for this method")


class RefusesEverything(LeJEPA):
    class Config(LeJEPA.Config):
        kind: Literal["refuses_everything"] = "refuses_everything"  # type: ignore[assignment]

    @classmethod
    def check_recipe(cls, config: MethodConfig, sections: Mapping[str, ComponentConfig]
                     ) -> None:
        raise ValueError(f"method.num_slices={config.num_slices} is refused")  # type: ignore[attr-defined]


@pytest.fixture
def broken() -> Iterator[None]:
    for name, cls in (("broken_build", BrokenBuild), ("refuses_everything", RefusesEverything)):
        registry("method").register(name, cls)
    try:
        yield
    finally:
        for name in ("broken_build", "refuses_everything"):
            registry("method").unregister(name)


def test_a_method_that_does_not_build_fails_as_an_assertion_with_its_cause(broken: None) -> None:
    with pytest.raises(AssertionError, match=r"method .*BrokenBuild: building it from its tiny "
                       r"recipe failed: ValueError: projector.out_dim=16 is too narrow") as info:
        check_component("method", "broken_build", {"num_slices": 32})
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(AssertionError, match="building it from its tiny recipe failed"):
        check_method(BrokenBuild, {"num_slices": 32})


def test_a_recipe_the_method_refuses_fails_as_an_assertion(broken: None) -> None:
    with pytest.raises(AssertionError, match=r"validating its tiny recipe failed: RecipeError: "
                       r"(.|\n)*method.num_slices=32 is refused") as info:
        check_component("method", "refuses_everything", {"num_slices": 32})
    assert isinstance(info.value.__cause__, RecipeError)


def test_other_build_errors_of_any_kind_become_assertions() -> None:
    # A timm encoder whose model_name timm does not know fails while it is built.
    with pytest.raises(AssertionError, match=r"encoder 'timm': its conformance check failed: "
                       r"ValueError: encoder.model_name='vit_nope' is not a timm model") as info:
        check_component("encoder", "timm", {"model_name": "vit_nope", "patch_size": 8})
    assert isinstance(info.value.__cause__, ValueError)
