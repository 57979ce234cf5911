"""The distributions build, pass ``twine check``, and the wheel works alone: in a fresh
virtualenv that holds only it (and its dependencies), from an empty folder, the shipped
quickstart trains by name and ``jepa-kit eval knn`` scores it."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import jepa_kit
from tests.conftest import REPO
from tests.packaging.wheel_env import (
    build,
    clean_env,
    dependency_closure,
    fresh_venv,
    link_dependencies,
    wheel_metadata,
)

pytestmark = pytest.mark.slow

#: Each project and the module whose ``__version__`` is its version.
PROJECTS = {"jepa-kit": (REPO, "jepa_kit"),
            "jepa-kit-losses": (REPO / "plugins" / "jepa-kit-losses", "jepa_kit_losses"),
            "jepa-kit-maskers": (REPO / "plugins" / "jepa-kit-maskers", "jepa_kit_maskers")}
#: What makes the two-step quickstart quick: little data, no loader processes.
QUICK = ["--set", "train.max_steps=2", "--set", "data.train_size=128", "--set",
         "data.val_size=64", "--set", "data.num_workers=0", "--set", "train.log_every=1"]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("dist")
    return {name: build(path, root / name) for name, (path, _) in PROJECTS.items()}


def _source_version(module: str) -> str:
    __import__(module)
    return str(sys.modules[module].__version__)


def test_every_distribution_builds_and_passes_twine_check(
        dists: dict[str, tuple[Path, Path]]) -> None:
    files = [str(f) for pair in dists.values() for f in pair]
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 6, done.stdout
    for name, (sdist, wheel) in dists.items():
        meta = wheel_metadata(wheel)
        # The version is written once, as the package's __version__.
        version = _source_version(PROJECTS[name][1])
        assert meta["Name"] == [name] and meta["Version"] == [version]
        assert wheel.name == f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        assert sdist.name == f"{name.replace('-', '_')}-{version}.tar.gz"
        assert meta["License-Expression"] == ["Apache-2.0"]


def test_the_recipes_ship_in_the_wheel_as_they_are_in_the_repository(
        dists: dict[str, tuple[Path, Path]]) -> None:
    sdist, wheel = dists["jepa-kit"]
    source = {p.relative_to(REPO / "recipes").as_posix(): p.read_bytes()
              for p in (REPO / "recipes").rglob("*.toml")}
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n.removeprefix("jepa_kit/recipes/"): zf.read(n) for n in zf.namelist()
                   if n.startswith("jepa_kit/recipes/")}
        names = zf.namelist()
    assert shipped == source
    assert "ablations/masking.toml" in shipped and "quickstart.toml" in shipped
    assert "jepa_kit/py.typed" in names and not any(n.startswith("tests/") for n in names)
    import tarfile

    with tarfile.open(sdist) as tf:
        members = {m.split("/", 1)[1] for m in tf.getnames() if "/" in m}
    assert {"setup.py", "MANIFEST.in", "CHANGELOG.md", "recipes/quickstart.toml",
            "recipes/ablations/masking.toml"} <= members
    assert not any(m.startswith("tests/") for m in members)


def test_the_wheel_alone_trains_the_shipped_quickstart_and_scores_it(
        dists: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    _, wheel = dists["jepa-kit"]
    needed = dependency_closure(wheel_metadata(wheel)["Requires-Dist"])
    names = {d.metadata["Name"].lower() for d in needed}
    assert {"torch", "timm", "pydantic", "typer"} <= names and "jepa-kit" not in names
    links = link_dependencies(needed, tmp_path / "dependencies")
    assert "torch" in links and not any(n.startswith(("jepa_kit", "__editable__"))
                                        for n in links)
    bin_dir = fresh_venv(tmp_path / "venv", wheel, tmp_path / "dependencies")
    env = clean_env(bin_dir, tmp_path / "cache")
    work = tmp_path / "empty"
    work.mkdir()

    def jepa(*args: str) -> str:
        done = subprocess.run([str(bin_dir / "jepa-kit"), *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"jepa-kit {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    found = subprocess.run(
        [str(bin_dir / "python"), "-c", "import jepa_kit, jepa_kit.shipped_recipes as s; "
         "print(jepa_kit.__file__); print(s.shipped_dir())"],
        cwd=work, env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    where = found.stdout.split()
    venv_site = str(tmp_path / "venv" / "lib")
    assert all(p.startswith(venv_site) for p in where), where  # code and recipes: the wheel's

    listing = jepa("recipes", "list")
    assert "quickstart" in listing and "ablations/masking" in listing
    assert f"from {where[1]}" in " ".join(listing.split())

    plugins = jepa("plugins")
    assert "ijepa" in plugins and "multiblock" in plugins
    assert "jepa-kit-maskers" not in plugins and "jepa-kit-losses" not in plugins

    jepa("run", "quickstart", *QUICK)
    run_dir = work / "runs" / "quickstart"
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [s["loss"] for s in steps if "loss" in s]
    assert len(losses) == 2 and all(0 < loss < 10 for loss in losses), steps
    checkpoint = run_dir / "checkpoints" / "step_00000002.pt"
    assert checkpoint.is_file()

    scored = jepa("eval", "knn", str(checkpoint))
    result = json.loads((run_dir / "eval_knn.json").read_text())
    assert result["step"] == 2 and result["jepa_kit"] == jepa_kit.__version__
    accuracy = result["metrics"]["top1"]  # a fraction, printed in per cent
    assert 0 <= accuracy <= 1 and f"{100 * accuracy:.2f}%" in scored
    assert "baseline" in result  # the random init of the same architecture, beside it
    assert md.version("jepa-kit") == jepa_kit.__version__  # this environment agrees, too
