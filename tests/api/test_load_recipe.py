"""``jepa_kit.load_recipe``: a file or a shipped name, overrides as a dict or ``--set`` strings."""

from __future__ import annotations

import importlib

import pytest

import jepa_kit
from jepa_kit.api import set_strings
from jepa_kit.errors import UserError
from jepa_kit.recipe import RecipeError
from tests.conftest import REPO


def test_top_level_names_are_the_api() -> None:
    from jepa_kit import api

    for name in ("load_recipe", "pretrain", "load_encoder", "evaluate", "export",
                 "find_checkpoint", "FeatureEncoder", "TrainResult"):
        assert getattr(jepa_kit, name) is getattr(api, name)
        assert name in dir(jepa_kit) and name in jepa_kit.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        jepa_kit.nope  # noqa: B018
    # the engine's package keeps its name: pretrain is not called train for this reason
    trainer = importlib.import_module("jepa_kit.train.trainer")
    assert jepa_kit.train.trainer is trainer and callable(trainer.train)


def test_dict_overrides_become_set_strings() -> None:
    sets = set_strings({"train": {"max_steps": 5, "precision": "bf16"}, "data.img_size": 64,
                        "optim.betas": [0.9, 0.95], "eval.monitors": False})
    assert sets[:4] == ["train.max_steps=5", 'train.precision="bf16"', "data.img_size=64",
                        "optim.betas=[\n    0.9,\n    0.95,\n]"]
    assert sets[4] == "eval.monitors=false"
    assert set_strings(["a.b=1", "c.d=x"]) == ["a.b=1", "c.d=x"]
    assert set_strings(None) == []


def test_load_by_name_path_and_object_with_overrides() -> None:
    by_name = jepa_kit.load_recipe("quickstart", {"train": {"max_steps": 7},
                                                  "optim.betas": [0.9, 0.95],
                                                  "run.name": "from-python"})
    assert by_name.train.max_steps == 7 and by_name.optim.betas == (0.9, 0.95)
    assert by_name.run.name == "from-python"
    by_path = jepa_kit.load_recipe(REPO / "recipes" / "quickstart.toml", ["train.epochs=2"])
    assert by_path.train.epochs == 2 and by_path.encoder.embed_dim == 96
    again = jepa_kit.load_recipe(by_path, {"train.batch_size": 8})
    assert (again.train.batch_size, again.train.epochs, by_path.train.batch_size) == (8, 2, 64)
    switched = jepa_kit.load_recipe("quickstart", {"loss": {"normalize_targets": False,
                                                            "kind": "smooth_l1"}})
    assert switched.loss.kind == "smooth_l1" and switched.loss.normalize_targets is False


def test_bad_overrides_name_what_was_given() -> None:
    with pytest.raises(UserError, match="got one string"):
        jepa_kit.load_recipe("quickstart", "train.max_steps=3")
    with pytest.raises(UserError, match=r"overrides\['train.max_steps'\] = None: TOML has no "
                                        "null"):
        jepa_kit.load_recipe("quickstart", {"train.max_steps": None})
    with pytest.raises(RecipeError, match="train.max_steps"):
        jepa_kit.load_recipe("quickstart", {"train.max_steps": 0})
    with pytest.raises(RecipeError, match="trian"):
        jepa_kit.load_recipe("quickstart", {"trian.epochs": 3})
