"""The version is written once, as each package's ``__version__``; the packaging metadata and
``jepa-kit --version`` read it from there."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest

import jepa_kit
from tests.conftest import REPO
from tests.sweep.helpers import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECTS = {REPO: "jepa_kit", REPO / "plugins" / "jepa-kit-losses": "jepa_kit_losses",
            REPO / "plugins" / "jepa-kit-maskers": "jepa_kit_maskers"}


@pytest.mark.parametrize("project", list(PROJECTS), ids=lambda p: p.name)
def test_pyproject_reads_the_version_from_the_package(project: Path) -> None:
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert "version" not in data["project"] and "version" in data["project"]["dynamic"]
    module = PROJECTS[project]
    assert data["tool"]["setuptools"]["dynamic"]["version"] == {"attr": f"{module}.__version__"}


def test_version_flag_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out == f"jepa-kit {jepa_kit.__version__}\n"
    assert md.version("jepa-kit") == jepa_kit.__version__
