"""``jepa-kit plugins new``: the skeletons lint, install with pip alone, register, pass their
own tests, and leave no trace once removed.

The bundled plugins are installed editable in CI, so this proof uses freshly generated packages
with unique names: one per kind, installed with ``pip install --target`` into a temporary
folder that a subprocess sees through ``PYTHONPATH``.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from jepa_kit.errors import UserError
from jepa_kit.registry import GROUPS
from jepa_kit.scaffold import class_name, new_plugin, plan
from tests.conftest import REPO

KINDS = list(GROUPS)
RUFF = Path(sys.executable).with_name("ruff")


def run(*args: str, cwd: Path, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "JEPA_KIT_DISABLE_PLUGINS"}}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(list(args), cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=300)


def listed(cwd: Path, site: Path | None) -> dict[tuple[str, str], dict[str, str]]:
    result = run(sys.executable, "-m", "jepa_kit", "plugins", "--json", cwd=cwd, site=site)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}


def test_plan_names_things_consistently() -> None:
    files = plan("grid_masker", "masker")
    assert set(files) == {"pyproject.toml", "README.md", "jepa_kit_grid_masker/__init__.py",
                          "jepa_kit_grid_masker/masker.py", "tests/test_grid_masker.py"}
    pyproject = files["pyproject.toml"]
    assert 'name = "jepa-kit-grid-masker"' in pyproject
    assert '[project.entry-points."jepa_kit.maskers"]' in pyproject
    assert 'grid_masker = "jepa_kit_grid_masker.masker:GridMasker"' in pyproject
    assert 'kind: Literal["grid_masker"] = "grid_masker"' in files["jepa_kit_grid_masker/masker.py"]
    assert class_name("ema_const", "target_updater") == "EmaConstTargetUpdater"


def test_refuses_bad_names_taken_names_and_full_folders(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="lower-case letters"):
        plan("Grid-Masker", "masker")
    with pytest.raises(UserError, match="already registered by jepa-kit"):
        plan("l2", "loss")
    with pytest.raises(UserError, match="Did you mean 'loss'"):
        plan("mine", "losss")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(UserError, match="not an empty folder"):
        new_plugin("mine", "loss", tmp_path / "full")


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is not installed next to python")
def test_skeletons_are_lint_clean(tmp_path: Path) -> None:
    for kind in KINDS:
        new_plugin(f"lint_{kind}", kind, tmp_path / kind)
    # Each skeleton carries its own ruff settings (jepa-kit's rules); ruff picks them up per folder.
    result = run(str(RUFF), "check", ".", "--no-cache", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pip_install_is_all_it_takes(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"gen{tag}_{kind}" for kind in KINDS}
    roots = [new_plugin(name, kind, tmp_path / name)[0].parent for kind, name in names.items()]
    site = tmp_path / "site"
    # Offline when the venv has setuptools to build with; otherwise pip fetches it (isolated).
    offline = ["--no-index", "--no-build-isolation"] if importlib.util.find_spec(
        "setuptools") else []
    pip = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *offline,
              "--disable-pip-version-check", "--target", str(site), *map(str, roots),
              cwd=tmp_path)
    assert pip.returncode == 0, pip.stdout + pip.stderr

    # Installed: listed with their distribution and version, next to the built-ins.
    with_site = listed(tmp_path, site)
    for kind, name in names.items():
        row = with_site[(kind, name)]
        assert row["distribution"] == f"jepa-kit-{name.replace('_', '-')}"
        assert row["version"] == "0.1.0"
    assert with_site[("loss", "l2")]["distribution"] == "jepa-kit"
    assert not any(name in {n for _, n in listed(tmp_path, None)} for name in names.values())

    # The skeletons' own tests pass against the installed packages (the cwd holds no package).
    tests = [str(root / "tests") for root in roots]
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests,
                 cwd=tmp_path, site=site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{2 * len(KINDS)} passed" in result.stdout

    # Removing a distribution's files (what pip uninstall does, from its RECORD) removes it.
    gone = names["loss"]
    info = next(site.glob(f"jepa_kit_{gone}-*.dist-info"))
    for line in (info / "RECORD").read_text().splitlines():
        path = site / line.split(",")[0]
        if path.is_file():
            path.unlink()
    shutil.rmtree(info, ignore_errors=True)
    shutil.rmtree(site / f"jepa_kit_{gone}", ignore_errors=True)
    after = listed(tmp_path, site)
    assert ("loss", gone) not in after and ("masker", names["masker"]) in after


def test_templates_are_declared_as_package_data() -> None:
    """A wheel of jepa-kit must carry the templates, or ``plugins new`` fails once installed."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools.get("package-data", {}).get("jepa_kit", [])
    package = REPO / "jepa_kit"
    templates = sorted((package / "scaffold" / "templates").glob("*.tmpl"))
    assert {f"{kind}.py.tmpl" for kind in KINDS} <= {t.name for t in templates}
    missing = [t.relative_to(package).as_posix() for t in templates
               if not any(fnmatch.fnmatch(t.relative_to(package).as_posix(), p) for p in patterns)]
    assert not missing, (f"pyproject.toml [tool.setuptools.package-data] jepa_kit must include "
                         f"'scaffold/templates/*.tmpl'; not shipped: {missing}")
