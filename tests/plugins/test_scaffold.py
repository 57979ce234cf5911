"""``jepa-kit plugins new``: the skeletons lint, install with pip alone, register, pass their
own tests, and leave no trace once removed; ``--into`` adds a component to an existing
distribution and leaves the rest of its ``pyproject.toml`` as it was.

The bundled plugins are installed editable in CI, so this proof uses freshly generated packages
with unique names: one per kind, installed with ``pip install --target`` into a temporary
folder that a subprocess sees through ``PYTHONPATH``. The method skeleton's training run and
the ``--into`` flow install editable into this environment, as a plugin author does, and
uninstall again whatever happens.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from jepa_kit.cli.app import main
from jepa_kit.errors import UserError
from jepa_kit.registry import GROUPS
from jepa_kit.scaffold import class_name, new_plugin, plan
from jepa_kit.scaffold.generator import METHOD_SLOTS, plan_into
from tests.conftest import REPO

KINDS = list(GROUPS)
RUFF = Path(sys.executable).with_name("ruff")
# Offline when the venv has setuptools to build with; otherwise pip fetches it (isolated).
OFFLINE = ["--no-index", "--no-build-isolation"] if importlib.util.find_spec("setuptools") else []


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
def test_skeletons_are_lint_and_format_clean(tmp_path: Path) -> None:
    for kind in KINDS:
        new_plugin(f"lint_{kind}", kind, tmp_path / kind)
    new_plugin("lint_masked", "method", tmp_path / "masked", template="masked")
    # Each skeleton carries its own ruff settings (jepa-kit's rules); ruff picks them up per folder.
    result = run(str(RUFF), "check", ".", "--no-cache", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # An author's first `ruff format` must not rewrite what they were given.
    result = run(str(RUFF), "format", "--check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_method_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    masked = plan("peek", "method", "masked")
    module = masked["jepa_kit_peek/method.py"]
    assert "class PeekMethod(Method):" in module and "check_networks(self)" in module
    assert "return Collator(self.masker, seed, rank)" in module
    assert "plugins new peek --kind method --template masked`" in masked["README.md"]
    assert '[masker]\nkind = "multiblock"\n' in masked["README.md"]
    assert "num_local" not in masked["README.md"]
    default = plan("peek", "method")
    assert default == plan("peek", "method", "multiview")
    assert "check_networks(self)" in default["jepa_kit_peek/method.py"]
    assert "--kind method --template multiview`" in default["README.md"]
    with pytest.raises(UserError, match=r"--template 'maskd' is not a method template; "
                       r"templates: multiview, masked. Did you mean 'masked'\?"):
        plan("peek", "method", "maskd")
    with pytest.raises(UserError, match=r"--template 'masked' is for --kind method only"):
        plan("peek", "loss", "masked")
    code, said = in_process(capsys, "plugins", "new", "peek", "--kind", "method", "--template",
                            "masked", "--dir", str(tmp_path / "pkg"))
    assert code == 0, said
    assert (tmp_path / "pkg" / "jepa_kit_peek" / "method.py").read_text() == module
    code, said = in_process(capsys, "plugins", "new", "peek", "--kind", "loss", "--template",
                            "masked", "--dir", str(tmp_path / "other"))
    assert code == 2 and "is for --kind method only" in said, said
    assert not (tmp_path / "other").exists()


def test_pip_install_is_all_it_takes(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"gen{tag}_{kind}" for kind in KINDS}
    roots = [new_plugin(name, kind, tmp_path / name)[0].parent for kind, name in names.items()]
    masked = f"gen{tag}_masked"  # the second method template
    roots.append(new_plugin(masked, "method", tmp_path / masked, template="masked")[0].parent)
    site = tmp_path / "site"
    pip = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *OFFLINE,
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

    # A protocol is a command of `jepa-kit eval`, its Config fields are flags, and `compare`
    # shows its headline column for a run it scored.
    protocol = names["eval_protocol"]
    help_text = run(sys.executable, "-m", "jepa_kit", "eval", "--help", cwd=tmp_path, site=site)
    assert help_text.returncode == 0 and protocol in help_text.stdout, help_text.stderr
    own = run(sys.executable, "-m", "jepa_kit", "eval", protocol, "--help", cwd=tmp_path,
              site=site)
    assert own.returncode == 0 and "--normalize" in own.stdout and "--per-class" in own.stdout
    scored = tmp_path / "scored_run"
    scored.mkdir()
    (scored / "metrics.jsonl").write_text(json.dumps({"step": 4, "loss": 1.0}) + "\n")
    (scored / f"eval_{protocol}.json").write_text(json.dumps(
        {"checkpoint_step": 4, "metrics": {"top1": 0.625},
         "gain": {"top1": 0.25, "standard_error": 0.05, "within_noise": False}}))
    table = run(sys.executable, "-m", "jepa_kit", "compare", str(scored), cwd=tmp_path,
                site=site)
    assert table.returncode == 0, table.stderr
    assert f"{protocol} top-1" in table.stdout and "62.5%" in table.stdout
    assert f"{protocol} gain" in table.stdout and "+25.0" in table.stdout

    # The skeletons' own tests pass against the installed packages (the cwd holds no package).
    tests = [str(root / "tests") for root in roots]
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests,
                 cwd=tmp_path, site=site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{2 * (len(KINDS) + 1)} passed" in result.stdout

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


# -- methods ---------------------------------------------------------------------------------
def load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"scaffold_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_method_readme_shows_the_sections_it_reads(tmp_path: Path) -> None:
    root = new_plugin("two_view", "method", tmp_path / "pkg")[0].parent
    method = load_module(root / "jepa_kit_two_view" / "method.py").TwoViewMethod
    assert method.slots == METHOD_SLOTS
    readme = (root / "README.md").read_text()
    assert '[method]\nkind = "two_view"\n' in readme
    for slot, default in METHOD_SLOTS.items():
        assert f'[{slot}]\nkind = "{default}"\n' in readme


@contextlib.contextmanager
def editable(root: Path, distribution: str) -> Iterator[None]:
    """``pip install -e root`` into this environment; uninstalled on the way out."""
    try:
        pip = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *OFFLINE,
                  "--disable-pip-version-check", "-e", str(root), cwd=root.parent)
        assert pip.returncode == 0, pip.stdout + pip.stderr
        yield
    finally:
        run(sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", distribution,
            cwd=root.parent)


@pytest.mark.slow
def test_method_skeleton_installs_passes_its_tests_and_trains(tmp_path: Path) -> None:
    name = f"gen{uuid.uuid4().hex[:8]}_two_view"
    distribution = f"jepa-kit-{name.replace('_', '-')}"
    root = new_plugin(name, "method", tmp_path / "pkg")[0].parent
    with editable(root, distribution):
        tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    str(root / "tests"), cwd=tmp_path)
        assert tests.returncode == 0 and "2 passed" in tests.stdout, tests.stdout + tests.stderr

        # The quickstart recipe with the plug-in method: the I-JEPA sections it does not read
        # fall away, the projector comes from its slot default.
        out = tmp_path / "run"
        overrides = {"method.kind": name, "train.max_steps": 2, "train.batch_size": 8,
                     "train.log_every": 1, "data.train_size": 32, "data.num_workers": 0,
                     "views.num_local": 0, "projector.hidden_dim": 64}
        sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
        train = run(sys.executable, "-m", "jepa_kit", "run", str(REPO / "recipes/quickstart.toml"),
                    *sets, "--output-dir", str(out), "--quiet", cwd=tmp_path)
        assert train.returncode == 0, train.stdout + train.stderr
    checkpoint = torch.load(out / "checkpoints" / "step_00000002.pt", weights_only=False)
    assert checkpoint["method"] == name
    assert checkpoint["networks"] == ["encoder", "projector"]
    assert json.loads((out / "run.json").read_text())["versions"][distribution] == "0.1.0"
    assert ("method", name) not in listed(tmp_path, None)


# -- --into ----------------------------------------------------------------------------------
def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), " ".join((captured.out + captured.err).split())


def test_into_adds_a_component_and_its_entry_point(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    tag = uuid.uuid4().hex[:8]
    masker, loss = f"gen{tag}_grid", f"gen{tag}_smooth"
    package = f"jepa_kit_{masker}"
    root = new_plugin(masker, "masker", tmp_path / "pkg")[0].parent
    before = (root / "pyproject.toml").read_bytes()

    code, said = in_process(capsys, "plugins", "new", loss, "--kind", "loss", "--into", str(root))
    assert code == 0, said
    assert f"{package}/loss.py (new)" in said and f"tests/test_{loss}.py (new)" in said
    assert f"pip install -e {root} again" in said
    # One table more, right after the masker's; every other byte as it was.
    cls = class_name(loss, "loss")
    table = f'[project.entry-points."jepa_kit.losses"]\n{loss} = "{package}.loss:{cls}"\n\n'
    after = (root / "pyproject.toml").read_bytes()
    assert after.replace(table.encode(), b"") == before
    assert after.index(b"jepa_kit.maskers") < after.index(table.encode())

    distribution = f"jepa-kit-{masker.replace('_', '-')}"
    with editable(root, distribution):
        found = listed(tmp_path, None)
        assert found[("masker", masker)]["distribution"] == distribution
        assert found[("loss", loss)]["class"] == f"{package}.loss:{cls}"
        tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    str(root / "tests"), cwd=tmp_path)
        assert tests.returncode == 0 and "4 passed" in tests.stdout, tests.stdout + tests.stderr

    # Refusals: a name the distribution declares, no pyproject.toml, no package, two packages.
    code, said = in_process(capsys, "plugins", "new", loss, "--kind", "loss", "--into", str(root))
    assert code == 2 and f"already declares '{loss}'" in said, said
    assert (root / "pyproject.toml").read_bytes() == after
    bare = tmp_path / "bare"
    bare.mkdir()
    code, said = in_process(capsys, "plugins", "new", "x", "--kind", "loss", "--into", str(bare))
    assert code == 2 and "no pyproject.toml there" in said, said
    (bare / "pyproject.toml").write_text('[project]\nname = "bare"\nversion = "0"\n')
    code, said = in_process(capsys, "plugins", "new", "x", "--kind", "loss", "--into", str(bare))
    assert code == 2 and "found no package" in said, said
    for pkg in ("one", "two"):
        (bare / pkg).mkdir()
        (bare / pkg / "__init__.py").write_text("")
    code, said = in_process(capsys, "plugins", "new", "x", "--kind", "loss", "--into", str(bare))
    assert code == 2 and "cannot tell which package gets the new module; found one, two" in said
    assert sorted(p.name for p in bare.rglob("*")) == ["__init__.py", "__init__.py", "one",
                                                        "pyproject.toml", "two"]


def test_into_any_setuptools_project(tmp_path: Path) -> None:
    """A hand-written project: src layout, CRLF, comments, a single-quoted table name, a
    ``loss.py`` of its own. Only the entry-point lines are added."""
    root = tmp_path / "mine"
    (root / "src" / "mypkg").mkdir(parents=True)
    for module in ("__init__.py", "losses.py", "loss.py"):
        (root / "src" / "mypkg" / module).write_text("")
    head = ('[project]\r\nname = "my-ssl-bits"  # mine\r\nversion = "1.2"\r\n\r\n'
            "[project.entry-points.'jepa_kit.losses']\r\n"
            'smooth = "mypkg.losses:Smooth"\r\n')
    tail = ('# more to come\r\n[[tool.mypy.overrides]]\r\nmodule = "mypkg.*"\r\n\r\n'
            '[tool.setuptools.packages.find]\r\nwhere = ["src"]')
    (root / "pyproject.toml").write_bytes((head + tail).encode())

    files = plan_into("huber", "loss", root)
    module = root / "src" / "mypkg" / "loss_huber.py"
    assert list(files) == [module, root / "tests" / "test_huber.py", root / "pyproject.toml"]
    assert 'kind: Literal["huber"] = "huber"' in files[module]
    assert "from mypkg.loss_huber import HuberLoss" in files[root / "tests" / "test_huber.py"]
    line = 'huber = "mypkg.loss_huber:HuberLoss"\r\n'
    assert files[root / "pyproject.toml"] == head + line + tail + "\r\n"

    new_plugin("huber", "loss", into=root)
    files = plan_into("grid_pp", "masker", root)
    table = ('\r\n[project.entry-points."jepa_kit.maskers"]\r\n'
             'grid_pp = "mypkg.masker:GridPpMasker"\r\n')
    assert files[root / "pyproject.toml"] == head + line + table + "\r\n" + tail + "\r\n"

    with pytest.raises(UserError, match="exclude each other"):
        new_plugin("other", "loss", tmp_path / "new", into=root)
    (root / "pyproject.toml").write_text('[project]\nname = "x"\ndynamic = ["entry-points"]\n')
    with pytest.raises(UserError, match="dynamic"):
        plan_into("other", "loss", root)
