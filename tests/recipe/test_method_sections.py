"""Recipes follow their method: the sections it declares, no others, defaults for the rest."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from jepa_kit.recipe import RecipeError, apply_overrides, load_raw, load_recipe, validate_recipe

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "recipes" / "quickstart.toml"


def test_ijepa_is_the_default_method_with_its_default_sections() -> None:
    recipe = validate_recipe({"data": {"img_size": 32}, "encoder": {"patch_size": 4},
                              "masker": {"min_keep": 4}})
    assert recipe.method.kind == "ijepa"
    assert (recipe.predictor.kind, recipe.target_updater.kind, recipe.loss.kind,
            recipe.views.kind) == ("vit_predictor", "ema", "l2", "single")
    assert not hasattr(recipe, "projector")


def test_a_section_the_method_does_not_use_is_an_error() -> None:
    with pytest.raises(RecipeError) as info:
        validate_recipe({"method": {"kind": "lejepa"}, "masker": {"kind": "multiblock"}})
    assert info.value.problems == [(
        "masker", "method 'lejepa' does not use a [masker] section (its sections: method, "
        "data, encoder, projector, views); remove it")]


def test_unknown_method_names_the_installed_ones() -> None:
    with pytest.raises(RecipeError, match=r"method\.kind: unknown method 'ljepa'.*Did you mean "
                       r"'lejepa'"):
        validate_recipe({"method": {"kind": "ljepa"}})


def test_method_options_are_validated_with_their_key() -> None:
    with pytest.raises(RecipeError) as info:
        validate_recipe({"method": {"kind": "lejepa", "lambd": 2.0}})
    assert info.value.problems[0][0] == "method.lambd"


def test_views_must_suit_the_method() -> None:
    with pytest.raises(RecipeError, match=r"views.kind='single' has no global views; LeJEPA "
                       r"needs a multi-view component"):
        validate_recipe({"method": {"kind": "lejepa"}, "views": {"kind": "single"}})


def test_eval_which_is_checked_against_the_method() -> None:
    with pytest.raises(RecipeError, match=r"eval.which='target': method 'lejepa' evaluates "
                       r"'encoder'"):
        validate_recipe({"method": {"kind": "lejepa"}, "eval": {"which": "target"}})


def test_set_method_kind_drops_the_sections_of_the_old_method() -> None:
    raw = apply_overrides(load_raw(QUICKSTART), ["method.kind=lejepa", "views.local_size=16"])
    assert not {"predictor", "masker", "target_updater", "loss"} & set(raw)
    recipe = validate_recipe(raw)
    assert recipe.method.kind == "lejepa" and recipe.views.kind == "multicrop"
    assert recipe.views.local_size == 16 and recipe.encoder.embed_dim == 96  # kept


def test_extends_with_another_method_drops_the_bases_sections() -> None:
    recipe = load_recipe(REPO / "recipes" / "quickstart_lejepa.toml")
    assert recipe.method.kind == "lejepa" and recipe.encoder.depth == 4
    assert "masker" not in recipe.model_dump()


def test_pre_views_augmentation_keys_move_to_views(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"
    path.write_text('[data]\nimg_size = 32\ncrop_scale = [0.5, 1.0]\nhorizontal_flip = true\n'
                    '[encoder]\npatch_size = 4\n[masker]\nmin_keep = 4\n')
    with pytest.warns(FutureWarning, match=r"data.crop_scale, data.horizontal_flip moved to "
                      r"\[views\]"):
        recipe = load_recipe(path)
    assert recipe.views.crop_scale == (0.5, 1.0) and recipe.views.horizontal_flip


def test_every_shipped_recipe_validates_without_warnings() -> None:
    for path in sorted((REPO / "recipes").glob("*.toml")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_recipe(path)
