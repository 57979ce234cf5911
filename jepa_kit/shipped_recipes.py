"""The recipes that ship with jepa-kit: found by name, listed with their purpose, copied out.

The repository's ``recipes/`` folder is their one source. A wheel carries it as package data,
``jepa_kit/recipes/``, copied there when the wheel is built (``setup.py``); a clone, or an
editable install of one, reads ``recipes/`` beside the package. A recipe's name is its path in
that folder without ``.toml``: ``quickstart``, ``ablations/masking``.

Wherever a recipe is named (``jepa-kit run NAME``, ``extends``, an ablation file's ``base``) a
file that exists wins; only a path that names no file is looked up here. A leading
``recipes/`` is accepted, so the commands written for a clone (``jepa-kit run
recipes/quickstart.toml``) work from any folder once jepa-kit is installed.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUFFIX = ".toml"
#: The folder prefix a clone's commands put before a recipe's name.
FOLDER = "recipes"


def shipped_dir() -> Path | None:
    """The folder of the shipped recipes: the wheel's package data, else a clone's ``recipes/``
    (None when neither is there)."""
    packaged = Path(__file__).resolve().parent / FOLDER
    if packaged.is_dir():
        return packaged
    # A clone (or an editable install of one): recipes/ beside the package, in the folder of
    # jepa-kit's own pyproject.toml, so an unrelated recipes/ next to site-packages never counts.
    root = Path(__file__).resolve().parent.parent
    if (root / FOLDER).is_dir() and (root / "pyproject.toml").is_file():
        return root / FOLDER
    return None


@dataclass(frozen=True)
class ShippedRecipe:
    """One shipped recipe: its name, its file, and what its header says it is for."""

    name: str
    path: Path

    @property
    def purpose(self) -> str:
        """The first line of the header comment, without the ``name:`` it may start with."""
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            text = line.lstrip("#").strip()
            if text:
                # "quickstart: I-JEPA in miniature ..." or "Ablation: masking strategy ...":
                # the name and the kind are shown beside the purpose already.
                for label in (self.path.stem, "Ablation"):
                    if text.startswith(f"{label}:"):
                        text = text[len(label) + 1:].strip()
                return text.rstrip(":")
        return ""

    @property
    def is_ablation(self) -> bool:
        """An ablation file (``jepa-kit sweep NAME``): named variants of a base recipe."""
        with self.path.open("rb") as fh:
            return "variants" in tomllib.load(fh)


def shipped_recipes() -> list[ShippedRecipe]:
    """Every shipped recipe, by name (top-level recipes first, then each sub-folder's)."""
    root = shipped_dir()
    if root is None:
        return []
    found = [ShippedRecipe(p.relative_to(root).with_suffix("").as_posix(), p)
             for p in root.rglob(f"*{SUFFIX}") if p.is_file()]
    return sorted(found, key=lambda r: (r.name.count("/"), r.name))


def _name_of(given: str | Path) -> str | None:
    """``given`` as a shipped recipe's name, or None when it cannot be one (an absolute path,
    a path through ``..``)."""
    text = str(given).replace("\\", "/")
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts:
        return None
    parts = path.parts[1:] if path.parts[:1] == (FOLDER,) and len(path.parts) > 1 else path.parts
    name = "/".join(p for p in parts if p != ".")
    return name.removesuffix(SUFFIX) or None


def shipped_recipe(given: str | Path) -> ShippedRecipe | None:
    """The shipped recipe that ``given`` names (``quickstart``, ``quickstart.toml``,
    ``recipes/ablations/masking.toml``), or None."""
    name = _name_of(given)
    if name is None:
        return None
    return next((r for r in shipped_recipes() if r.name == name), None)


def find_shipped(given: str | Path) -> Path | None:
    """The file of the shipped recipe that ``given`` names, or None."""
    recipe = shipped_recipe(given)
    return None if recipe is None else recipe.path


def closest_shipped(given: str | Path) -> str | None:
    """The shipped recipe's name nearest to ``given``, if one is near."""
    name = _name_of(given)
    names = [r.name for r in shipped_recipes()]
    if name is None or not names:
        return None
    # Compare with and without the folder: "masking" is near "ablations/masking".
    by_stem = {n.rsplit("/", 1)[-1]: n for n in names}
    near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    near = near or [by_stem[m] for m in difflib.get_close_matches(name, list(by_stem), n=1,
                                                                   cutoff=0.6)]
    return near[0] if near else None


def not_shipped(given: str | Path) -> str:
    """Why ``given`` names no shipped recipe, with the closest name and the list."""
    names = [r.name for r in shipped_recipes()]
    if not names:
        return "not a shipped recipe: this installation ships none"
    near = closest_shipped(given)
    hint = f" (closest: {near!r})" if near else ""
    return (f"not a shipped recipe{hint}; shipped: {', '.join(names)} "
            f"(`jepa-kit recipes list`)")


def missing_recipe(given: str | Path) -> str:
    """What to say when ``given`` is neither a file nor a shipped recipe's name."""
    if _name_of(given) is None:
        return "no such recipe file"
    return f"no such recipe file, and {not_shipped(given)}"


# -- copying out -------------------------------------------------------------------------------
#: ``extends = "..."`` (a recipe) or ``base = "..."`` (an ablation file) before the first table.
_REFERENCE = re.compile(r"""^(?P<head>\s*(?:extends|base)\s*=\s*)(?P<q>["'])(?P<ref>[^"'\n]+)"""
                        r"""(?P=q)""", re.MULTILINE)


def copy_text(recipe: ShippedRecipe) -> str:
    """The recipe's text for a copy outside the shipped folder: a reference to another shipped
    recipe by a relative path (``base = "../quickstart.toml"``) becomes its name, which the copy
    finds beside it if the user copies that one too, else among the shipped recipes."""
    text = recipe.path.read_text(encoding="utf-8")
    root = shipped_dir()
    header = re.search(r"^\s*\[", text, re.MULTILINE)
    end = header.start() if header else len(text)
    match = _REFERENCE.search(text, 0, end)
    if match is None or root is None:
        return text
    target = (recipe.path.parent / match["ref"]).resolve()
    if not target.is_relative_to(root):
        return text
    name = target.relative_to(root).as_posix()
    start, stop = match.span("ref")
    return text[:start] + name + text[stop:]
