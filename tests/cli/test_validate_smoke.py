"""`jepa-kit validate --smoke`: one real optimizer step per recipe on the CPU, then cleaned up."""

from __future__ import annotations

import inspect
import re
import tempfile
from pathlib import Path

import pytest

from jepa_kit.cli.app import main
from jepa_kit.cli.recipes import validate
from tests.conftest import REPO

RECIPES = REPO / "recipes"


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the smoke step's temporary run folder goes, to check it is removed."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_smoke_runs_one_step_of_each_recipe(temp_root: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    recipes = [str(RECIPES / "quickstart.toml"), str(RECIPES / "quickstart_lejepa.toml")]
    assert exit_code(["validate", "--smoke", *recipes]) == 0
    printed = capsys.readouterr().out
    assert printed.count("ok ") >= 2
    found = re.findall(r"smoke ok: step 1 loss (\d+\.\d{3}) in \d+\.\d s", printed)
    assert len(found) == 2, printed
    assert all(float(loss) > 0 for loss in found)
    assert list(temp_root.glob("jepa-kit-smoke-*")) == []  # the run folder was removed


def test_without_smoke_nothing_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["validate", str(RECIPES / "quickstart.toml")]) == 0
    assert "smoke" not in capsys.readouterr().out


def test_a_broken_data_root_exits_2(tmp_path: Path, temp_root: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no_such_images"
    recipe = tmp_path / "broken.toml"
    recipe.write_text(f'extends = "{(RECIPES / "quickstart.toml").as_posix()}"\n\n'
                      f'[data]\nkind = "image_folder"\nroot = "{missing.as_posix()}"\n'
                      'img_size = 32\n')
    assert exit_code(["validate", str(recipe)]) == 0  # validation alone does not read the data
    capsys.readouterr()
    assert exit_code(["validate", "--smoke", str(recipe)]) == 2
    captured = capsys.readouterr()
    assert "data.root" in captured.err and str(missing) in captured.err
    assert "Traceback" not in captured.err and "smoke ok" not in captured.out
    assert list(temp_root.glob("jepa-kit-smoke-*")) == []


def test_help_says_it_runs_the_real_models() -> None:
    option = inspect.signature(validate).parameters["smoke"].default
    assert "real models" in option.help and "ViT-H" in option.help
