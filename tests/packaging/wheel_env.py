"""Build jepa-kit's distributions, and install a wheel alone into a fresh virtualenv.

The fresh virtualenv gets jepa-kit's code and recipes from the wheel only. Its dependencies
(torch and the rest, gigabytes to download) are the ones this test environment already has,
offered through a folder of links to exactly the distributions that the wheel's own
``Requires-Dist`` needs, followed through their requirements: a package that jepa-kit imports
without declaring it is missing there, as it would be after ``pip install jepa-kit``. Nothing
of the clone, of the editable install or of the bundled plugins is visible.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: What a working copy holds that is not the project's source: never copied to build from.
GENERATED = (".venv", ".git", "runs", "*.egg-info", "build", "dist", "site", "__pycache__",
             ".pytest_cache", ".ruff_cache")


def build(project: Path, outdir: Path) -> tuple[Path, Path]:
    """``python -m build`` of ``project`` (the sdist, then the wheel from it): (sdist, wheel).

    It builds from a copy of the project, as setuptools writes an ``*.egg-info`` folder into
    the tree it builds (in the repository it would shadow the editable install's metadata),
    and with ``--no-isolation``: this environment's setuptools instead of a download.
    """
    source = outdir / "source"
    shutil.copytree(project, source, ignore=shutil.ignore_patterns(*GENERATED), symlinks=True)
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(outdir), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, f"build of {project} failed:\n{done.stdout}\n{done.stderr}"
    [sdist] = outdir.glob("*.tar.gz")
    [wheel] = outdir.glob("*.whl")
    return sdist, wheel


def wheel_metadata(wheel: Path) -> dict[str, list[str]]:
    """The wheel's ``METADATA`` headers, each as a list of its values."""
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(zf.read(name).decode("utf-8"))
    out: dict[str, list[str]] = {}
    for key, value in message.items():
        out.setdefault(key, []).append(value)
    return out


def _wanted(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": e}) for e in (extras or {""}))


def dependency_closure(requires: list[str]) -> list[md.Distribution]:
    """The installed distributions that ``requires`` (Requires-Dist lines, no extras) needs,
    transitively; each must satisfy its requirement's version range."""
    found: dict[str, md.Distribution] = {}
    todo = [(Requirement(r), set[str]()) for r in requires]
    while todo:
        req, parent_extras = todo.pop()
        if not _wanted(req, parent_extras):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            raise AssertionError(f"{req} is required but not installed here") from None
        assert req.specifier.contains(dist.version, prereleases=True), \
            f"{req} is required; this environment has {dist.version}"
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in found:
            continue
        found[key] = dist
        todo.extend((Requirement(r), set(req.extras)) for r in dist.requires or [])
    unique = {canonicalize_name(d.metadata["Name"]): d for d in found.values()}
    return list(unique.values())


def link_dependencies(dists: list[md.Distribution], folder: Path) -> list[str]:
    """Link every top-level entry (package, module, .dist-info) of ``dists`` into ``folder``;
    returns the entries' names."""
    folder.mkdir(parents=True)
    names: list[str] = []
    for dist in dists:
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            source, link = Path(str(dist.locate_file(top))), folder / top
            if source.exists() and not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())
                names.append(top)
    return names


def fresh_venv(root: Path, wheel: Path, dependencies: Path) -> Path:
    """A new virtualenv at ``root`` holding ``wheel`` (installed by pip, no dependencies) and
    seeing ``dependencies`` as a site folder; returns its ``bin`` folder."""
    venv.EnvBuilder(with_pip=False, clear=True).create(root)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # addsitedir (not a bare path line) so the dependencies' own .pth files are read too.
    (Path(site) / "test_dependencies.pth").write_text(
        f"import site; site.addsitedir({str(dependencies)!r})\n")
    # Outside this environment's paths: an egg-info that the build left in the source tree,
    # seen through PYTHONPATH, would pass for an installed jepa-kit and the wheel be skipped.
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-deps", "--no-index", "--no-cache-dir", "--quiet",
                           "--disable-pip-version-check", "--ignore-installed", str(wheel)],
                          capture_output=True, text=True, cwd=root,
                          env=clean_env(root / "bin", root / "cache"))
    assert done.returncode == 0, f"pip install {wheel.name} failed:\n{done.stderr}"
    return root / "bin"


def clean_env(bin_dir: Path, cache: Path) -> dict[str, str]:
    """The environment of a command run in the fresh virtualenv: its ``bin`` first on PATH,
    nothing of this test environment's Python paths, caches under ``cache``."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP"}}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(bin_dir.parent),
               PYTHONNOUSERSITE="1", XDG_CACHE_HOME=str(cache))
    return env
