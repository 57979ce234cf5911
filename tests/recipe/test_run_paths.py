"""Where a run writes: run.name is one folder name, run.output_dir stays under its parent,
and an ``extends`` that is not a regular file says what it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jepa_kit.cli.app import main
from jepa_kit.recipe import RecipeError, load_recipe
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart.toml"


def problems(*overrides: str, path: Path = QUICKSTART) -> list[tuple[str, str]]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return info.value.problems


@pytest.mark.parametrize(("name", "why"), [
    ("../../x", "contains '/'"), ("a/b", "contains '/'"), ("..", "is not a folder name"),
    (".", "is not a folder name"), ("a\\\\b", "contains '\\\\'"),
])
def test_run_name_is_a_plain_folder_name(name: str, why: str) -> None:
    [(key, msg)] = problems(f'run.name="{name}"')
    assert key == "run.name"
    assert msg.startswith(why) and "expected a plain folder name" in msg


@pytest.mark.parametrize("name", ["quickstart", "vit-b_16.seed0", "café", "..x"])
def test_plain_names_pass(name: str) -> None:
    recipe = load_recipe(QUICKSTART, [f'run.name="{name}"'])
    assert recipe.output_dir == Path("runs") / name


@pytest.mark.parametrize("template", ["runs/{name}/../..", "{name}/..", "a/{name}/../../b"])
def test_output_dir_cannot_leave_the_folder_before_name(template: str) -> None:
    [(key, msg)] = problems(f'run.output_dir="{template}"')
    assert key == "run.output_dir"
    assert "with run.name='quickstart' it gives" in msg and f"(given: {template!r})" in msg


@pytest.mark.parametrize(("template", "expanded"), [
    ("runs/{name}", "runs/quickstart"), ("/data/runs/{name}", "/data/runs/quickstart"),
    ("../shared/{name}/seed0", "../shared/quickstart/seed0"),
    ("runs/{name}/../other", "runs/other"), ("out", "out"),
])
def test_output_dirs_inside_their_folder_pass(template: str, expanded: str) -> None:
    recipe = load_recipe(QUICKSTART, [f'run.output_dir="{template}"'])
    assert os.path.normpath(recipe.output_dir) == os.path.normpath(expanded)


def test_bad_name_exits_2_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["validate", str(QUICKSTART), "--set", 'run.name="../../x"'])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "run.name: contains '/'" in err and "(given: '../../x')" in err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_extends_a_device_says_it_is_not_a_regular_file(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('extends = "/dev/zero"\n')
    [(key, msg)] = problems(path=recipe)
    assert key == "extends"
    assert msg == ("base recipe /dev/zero is not a regular file (a device, fifo or socket); "
                   "expected a recipe file (given: '/dev/zero')")


def test_extends_a_folder_or_nothing(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    (tmp_path / "base").mkdir()
    recipe.write_text('extends = "base"\n')
    assert problems(path=recipe)[0][1].endswith("is a folder, not a recipe file (given: 'base')")
    recipe.write_text('extends = "missing.toml"\n')
    assert problems(path=recipe)[0][1].endswith("does not exist (given: 'missing.toml')")
