"""The bundled plugin packages (plugins/*/): installed, registered as declared, public API only.

scripts/setup.sh installs every ``plugins/*/`` with ``pip install -e``, so these tests take the
packages as installed, as a user would have them; their own tests (plugins/*/tests) run in the
same pytest session.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

from jepa_kit.recipe import RecipeError, load_recipe
from jepa_kit.registry import GROUPS, registry
from tests.conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLUGINS = sorted(p.parent for p in (REPO / "plugins").glob("*/pyproject.toml"))
KIND_OF_GROUP = {group: kind for kind, group in GROUPS.items()}
QUICKSTART = REPO / "recipes" / "quickstart.toml"
#: What a plugin may import from jepa-kit: the interfaces, the checks, recipes and the registry.
PUBLIC = {"jepa_kit.encoders", "jepa_kit.predictors", "jepa_kit.maskers",
          "jepa_kit.target_updaters", "jepa_kit.losses", "jepa_kit.methods", "jepa_kit.views",
          "jepa_kit.projectors", "jepa_kit.data.base", "jepa_kit.data.loader",
          "jepa_kit.testing", "jepa_kit.config", "jepa_kit.recipe", "jepa_kit.registry",
          "jepa_kit.errors", "jepa_kit.build", "jepa_kit.ops", "jepa_kit"}


def project(root: Path) -> dict[str, Any]:
    """The ``[project]`` table, with its dynamic version read from where setuptools reads it
    (``[tool.setuptools.dynamic] version = { attr = "pkg.__version__" }``)."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    meta = dict(data["project"])
    if "version" in meta.get("dynamic", []):
        module, _, name = data["tool"]["setuptools"]["dynamic"]["version"]["attr"].rpartition(".")
        meta["version"] = getattr(__import__(module, fromlist=[name]), name)
    return meta


def declared(root: Path) -> list[tuple[str, str, str]]:
    """(kind, name, "module:Class") for every entry point the package declares."""
    groups = project(root).get("entry-points", {})
    return [(KIND_OF_GROUP.get(group, group), name, value)
            for group, entries in groups.items() for name, value in entries.items()]


def test_there_are_plugin_packages() -> None:
    names = {p.name for p in PLUGINS}
    assert {"jepa-kit-maskers", "jepa-kit-losses"} <= names


@pytest.mark.parametrize("root", PLUGINS, ids=lambda p: p.name)
def test_installed_and_registered_as_declared(root: Path) -> None:
    meta = project(root)
    entries = declared(root)
    assert entries, f"{root.name} declares no entry points"
    for kind, name, value in entries:
        assert kind in GROUPS, f"{root.name}: unknown entry-point group for {name!r}"
        reg = registry(kind)
        assert name in reg.names(), (
            f"{root.name} is not installed ({kind} {name!r} missing): run scripts/setup.sh or "
            f"pip install -e {root.relative_to(REPO)}")
        entry = reg.entry(name)
        assert (entry.distribution, entry.version, entry.value) == (
            meta["name"], meta["version"], value)
        assert reg.load(name).Config.model_fields["kind"].default == name


@pytest.mark.parametrize("root", PLUGINS, ids=lambda p: p.name)
def test_imports_only_public_api(root: Path) -> None:
    for path in sorted(root.rglob("*.py")):
        if "build" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                if module == "jepa_kit" or module.startswith("jepa_kit."):
                    assert module in PUBLIC, f"{path.relative_to(REPO)} imports {module}"


@pytest.mark.parametrize(("section", "kind", "options"), [
    ("masker", "random", ["masker.target_ratio=0.3", "masker.num_targets=2"]),
    ("masker", "block", ["masker.scale=[0.4, 0.6]"]),
    ("masker", "rasterized", ["masker.context_quadrant=2"]),
    # With a plugin masker, so that these do not depend on the built-in one.
    ("loss", "cosine", ["masker.kind=block"]),
    ("loss", "vicreg_l2", ["masker.kind=block", "loss.variance_weight=2.0"]),
])
def test_plugin_components_validate_in_recipes(section: str, kind: str,
                                                options: list[str]) -> None:
    recipe = load_recipe(QUICKSTART, [f"{section}.kind={kind}", *options])
    assert getattr(recipe, section).kind == kind


def test_recipe_validation_runs_the_plugins_grid_checks() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, ["masker.kind=rasterized", "data.img_size=28"])
    assert "data.img_size" in str(info.value) and "even" in str(info.value)
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, ["masker.kind=random", "masker.num_targets=2"])
    assert "masker.num_targets" in str(info.value)
