"""``[optim]`` picks the optimizer and schedules; old recipes and checkpoints keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepa_kit.errors import UserError
from jepa_kit.recipe import RecipeError, load_recipe, recipe_to_dict, recipe_to_toml
from jepa_kit.train.resume import check_resume

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "recipes" / "quickstart.toml"


def test_defaults_are_the_reference_optimizer_and_schedules() -> None:
    optim = load_recipe(QUICKSTART).optim
    assert optim.optimizer.model_dump() == {"kind": "adamw", "betas": (0.9, 0.999),
                                            "eps": 1e-8, "implementation": "auto"}
    assert optim.lr_schedule.kind == optim.wd_schedule.kind == "cosine"
    assert optim.betas == (0.9, 0.999) and optim.eps == 1e-8  # the old attributes


@pytest.mark.parametrize("override", ["optim.lr_schedule=linear",
                                      "optim.lr_schedule.kind=linear",
                                      'optim.lr_schedule={kind="linear"}'])
def test_one_line_swaps_a_schedule(override: str) -> None:
    optim = load_recipe(QUICKSTART, [override]).optim
    assert optim.lr_schedule.kind == "linear" and optim.wd_schedule.kind == "cosine"


def test_one_line_swaps_the_optimizer_and_its_options_are_typed() -> None:
    optim = load_recipe(QUICKSTART, ["optim.optimizer=sgd"]).optim
    assert optim.optimizer.model_dump() == {"kind": "sgd", "momentum": 0.9, "dampening": 0.0,
                                            "nesterov": False}
    assert optim.betas is None
    with pytest.raises(RecipeError) as err:
        load_recipe(QUICKSTART, ["optim.optimizer.kind=sgd", "optim.optimizer.momentum=1.5"])
    assert err.value.problems == [("optim.optimizer.momentum",
                                   "Input should be less than 1 (given: 1.5)")]


def test_unknown_kinds_and_keys_are_named() -> None:
    with pytest.raises(RecipeError) as err:
        load_recipe(QUICKSTART, ["optim.lr_schedule=cosin"])
    ((key, message),) = err.value.problems
    assert key == "optim" and "optim.lr_schedule: unknown schedule 'cosin'" in message
    assert "Did you mean 'cosine'?" in message
    with pytest.raises(RecipeError) as err:
        load_recipe(QUICKSTART, ["optim.optimizer.implementaton=fused"])
    ((key, message),) = err.value.problems
    assert key == "optim.optimizer.implementaton"
    assert "Did you mean optim.optimizer.'implementation'?" in message


def test_legacy_betas_and_eps_move_into_the_optimizer() -> None:
    recipe = load_recipe(QUICKSTART, ["optim.betas=[0.8, 0.9]", "optim.eps=1e-6"])
    assert recipe.optim.optimizer.betas == (0.8, 0.9) and recipe.optim.optimizer.eps == 1e-6
    with pytest.raises(RecipeError) as err:
        load_recipe(QUICKSTART, ["optim.betas=[0.9, 1.5]"])
    assert err.value.problems[0][0] == "optim.betas"
    with pytest.raises(RecipeError) as err:  # AdamW's keys with another optimizer
        load_recipe(QUICKSTART, ["optim.optimizer=sgd", "optim.eps=1e-6"])
    assert err.value.problems[0][0] == "optim.eps"


def test_the_written_recipe_reads_back_the_same(tmp_path: Path) -> None:
    recipe = load_recipe(QUICKSTART, ["optim.optimizer=sgd", "optim.wd_schedule=constant"])
    text = recipe_to_toml(recipe)
    assert '[optim.optimizer]\nkind = "sgd"' in text
    (tmp_path / "r.toml").write_text(text)
    assert recipe_to_dict(load_recipe(tmp_path / "r.toml")) == recipe_to_dict(recipe)


def test_a_checkpoint_recipe_from_before_the_components_resumes_without_changes() -> None:
    new = recipe_to_dict(load_recipe(QUICKSTART))
    old = recipe_to_dict(load_recipe(QUICKSTART))
    body = old["optim"]
    adamw = body.pop("optimizer")
    del body["lr_schedule"], body["wd_schedule"]
    body.update(betas=list(adamw["betas"]), eps=adamw["eps"])
    assert check_resume(old, new, source="step_00000010.pt", allow_changes=False) == []
    body["betas"] = [0.5, 0.9]  # a real change is still one
    with pytest.raises(UserError, match=r"optim.optimizer.betas: \[0.5, 0.9\] -> \[0.9, 0.999\]"):
        check_resume(old, new, source="step_00000010.pt", allow_changes=False)
