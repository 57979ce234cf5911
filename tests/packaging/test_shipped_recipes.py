"""Shipped recipes: found by name from any folder, listed with their purpose, copied out, and
reached through ``extends`` / an ablation's ``base``; a file that exists always wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepa_kit.recipe import RecipeError, load_raw, load_recipe, recipe_to_dict
from jepa_kit.shipped_recipes import (
    closest_shipped,
    copy_text,
    find_shipped,
    shipped_dir,
    shipped_recipe,
    shipped_recipes,
)
from jepa_kit.sweep.ablation import load_ablation
from tests.conftest import REPO
from tests.sweep.helpers import cli

RECIPES = REPO / "recipes"
SOURCE_NAMES = sorted(p.relative_to(RECIPES).with_suffix("").as_posix()
                      for p in RECIPES.rglob("*.toml"))


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_the_clone_ships_its_recipes_folder_every_file_with_a_purpose() -> None:
    assert shipped_dir() == RECIPES.resolve()
    found = shipped_recipes()
    assert sorted(r.name for r in found) == SOURCE_NAMES
    assert "ablations/masking" in SOURCE_NAMES and "quickstart" in SOURCE_NAMES
    # Top-level recipes first, then the ablations folder.
    depths = [r.name.count("/") for r in found]
    assert depths == sorted(depths)
    by_name = {r.name: r for r in found}
    assert by_name["quickstart"].purpose == ("I-JEPA in miniature on the built-in synthetic "
                                             "dataset (no download).")
    assert by_name["ablations/masking"].purpose == "masking strategy ([0], Sec. 7, Table 6)."
    assert not by_name["quickstart"].is_ablation and by_name["ablations/masking"].is_ablation
    for recipe in found:
        assert recipe.purpose and not recipe.purpose.startswith(("#", recipe.name)), recipe.name


@pytest.mark.parametrize("given", ["quickstart", "quickstart.toml", "recipes/quickstart.toml",
                                   "./quickstart", "recipes\\quickstart.toml"])
def test_a_name_in_any_spelling_finds_the_shipped_file(given: str) -> None:
    assert find_shipped(given) == (RECIPES / "quickstart.toml").resolve()


@pytest.mark.parametrize("given", ["nope", "/abs/quickstart.toml", "../recipes/quickstart.toml",
                                   "quickstart.yaml", "", "recipes"])
def test_what_is_not_a_shipped_name(given: str) -> None:
    assert find_shipped(given) is None


def test_closest_name_looks_inside_folders_too() -> None:
    assert closest_shipped("quickstrat") == "quickstart"
    assert closest_shipped("maskng") == "ablations/masking"
    assert closest_shipped("zzzzzz") is None


def test_run_by_name_from_an_empty_folder_loads_the_shipped_recipe(empty_cwd: Path) -> None:
    by_name = load_recipe("quickstart", ["train.max_steps=2"])
    by_path = load_recipe(RECIPES / "quickstart.toml", ["train.max_steps=2"])
    assert recipe_to_dict(by_name) == recipe_to_dict(by_path)
    assert by_name.train.max_steps == 2 and by_name.run.name == "quickstart"
    # The clone's own spelling works from anywhere, and an extends chain is followed.
    lejepa = load_recipe("recipes/quickstart_lejepa.toml")
    assert lejepa.method.kind == "lejepa" and lejepa.data.img_size == by_path.data.img_size


def test_a_file_that_exists_wins_over_the_shipped_name(empty_cwd: Path) -> None:
    (empty_cwd / "quickstart").write_text('[run]\nname = "mine"\n')
    assert load_raw("quickstart") == {"run": {"name": "mine"}}
    (empty_cwd / "quickstart").unlink()
    (empty_cwd / "quickstart.toml").mkdir()  # not a file: the shipped recipe is meant
    assert load_raw("quickstart.toml")["run"]["name"] == "quickstart"


def test_an_unknown_name_lists_the_shipped_ones_and_the_closest(empty_cwd: Path) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe("quickstrat")
    [(key, msg)] = info.value.problems
    assert key == ""
    assert msg.startswith("no such recipe file, and not a shipped recipe (closest: "
                          "'quickstart'); shipped: ijepa_vitb, ")
    assert "ablations/masking" in msg and msg.endswith("(`jepa-kit recipes list`)")
    # An absolute path is a file the user meant: no list of names.
    with pytest.raises(RecipeError) as info:
        load_recipe(empty_cwd / "quickstrat.toml")
    assert info.value.problems == [("", "no such recipe file")]


def test_run_exits_2_naming_the_closest_recipe(
        empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", "quickstrt", "--set", "train.max_steps=1")
    assert code == 2 and out == ""
    assert "quickstrt: invalid recipe" in err and "(closest: 'quickstart')" in err
    assert not (empty_cwd / "runs").exists()


@pytest.mark.parametrize("spelling", ["quickstart", "quickstart.toml"])
def test_extends_finds_a_shipped_recipe_unless_a_file_is_beside(
        tmp_path: Path, spelling: str) -> None:
    child = tmp_path / "child.toml"
    child.write_text(f'extends = "{spelling}"\n[train]\nepochs = 2\n')
    raw = load_raw(child)
    assert raw["train"]["epochs"] == 2 and raw["encoder"]["embed_dim"] == 96  # the shipped base
    (tmp_path / "quickstart.toml").write_text('[encoder]\nkind = "vit"\nembed_dim = 48\n')
    if spelling == "quickstart.toml":
        assert load_raw(child)["encoder"]["embed_dim"] == 48  # the file beside wins
    child.write_text('extends = "quickstrt.toml"\n')
    with pytest.raises(RecipeError, match="base recipe .*quickstrt.toml does not exist"):
        load_raw(child)


def test_recipes_list_shows_every_name_with_its_purpose(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "recipes", "list")
    assert code == 0
    text = " ".join(out.split())  # the table wraps long purposes
    assert "Recipes: jepa-kit run NAME" in text and "Ablations: jepa-kit sweep NAME" in text
    assert text.index("Recipes:") < text.index("quickstart_video") < text.index("Ablations:")
    assert text.index("Ablations:") < text.index("ablations/masking")
    for recipe in shipped_recipes():
        assert recipe.name in text
        assert " ".join(recipe.purpose.split()[:3]) in text
    assert f"from {RECIPES.resolve()}" in text


def test_recipes_copy_writes_an_editable_copy_and_never_overwrites(
        empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "recipes", "copy", "quickstart")
    copy = empty_cwd / "quickstart.toml"
    assert code == 0 and copy.read_text() == (RECIPES / "quickstart.toml").read_text()
    assert "wrote quickstart.toml" in out and "jepa-kit run quickstart.toml" in out
    copy.write_text(copy.read_text().replace("embed_dim = 96", "embed_dim = 48"))
    code, _, err = cli(capsys, "recipes", "copy", "quickstart")
    assert code == 2 and "quickstart.toml exists; not overwritten" in err
    assert "embed_dim = 48" in copy.read_text()
    # The copy now wins over the shipped recipe, here and for extends beside it.
    assert load_recipe("quickstart.toml").encoder.embed_dim == 48
    code, _, _ = cli(capsys, "recipes", "copy", "quickstart_lejepa")
    assert code == 0 and load_recipe("quickstart_lejepa.toml").encoder.embed_dim == 48
    code, out, err = cli(capsys, "recipes", "copy", "quickstrt", "elsewhere")
    assert code == 2 and "'quickstrt' is not a shipped recipe (closest: 'quickstart')" in err
    assert not (empty_cwd / "elsewhere").exists()
    (empty_cwd / "afile").write_text("")
    code, _, err = cli(capsys, "recipes", "copy", "quickstart_video", "afile")
    assert code == 2 and "afile is a file; expected a folder" in err


def test_every_shipped_recipe_copied_elsewhere_still_loads(tmp_path: Path) -> None:
    # An ablation's base = "../quickstart.toml" becomes "quickstart.toml": the shipped
    # recipe, or the user's copy once there is one beside it.
    for recipe in shipped_recipes():
        folder = tmp_path / recipe.name.replace("/", "-")  # alone: nothing beside it
        folder.mkdir()
        target = folder / recipe.path.name
        target.write_text(copy_text(recipe))
        if recipe.is_ablation:
            plan, shipped = load_ablation(target), load_ablation(recipe.path)
            assert plan.base == shipped.base.resolve(), recipe.name
            assert plan.variants == shipped.variants and plan.common == shipped.common
        else:
            assert load_raw(target) == load_raw(recipe.path), recipe.name
    masking = shipped_recipe("ablations/masking")
    assert masking is not None
    assert 'base = "quickstart.toml"' in copy_text(masking)
    assert 'base = "../quickstart.toml"' in masking.path.read_text()


def test_sweep_takes_a_shipped_ablation_by_name(
        empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "sweep", "ablations/method", "--dry-run")
    assert code == 0, err
    assert "lejepa" in out and f"base: {RECIPES.resolve() / 'ablations'}" in out
    assert not (empty_cwd / "runs").exists()
