"""Reading and composing recipe files: TOML, ``extends`` chains, shipped recipes by name,
deep merges that restart a section whose ``kind`` changes, and ``--set`` overrides.
"""

from __future__ import annotations

import codecs
import copy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jepa_kit.recipe.base import RecipeError
from jepa_kit.recipe.model import sections_of
from jepa_kit.shipped_recipes import find_shipped, missing_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# -- reading and composing ---------------------------------------------------------------------
def read_toml(path: Path) -> dict[str, Any]:
    """A recipe file as a dict: UTF-8 TOML, a leading byte-order mark allowed (Windows editors
    write one; TOML itself does not)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(str(path), [("", "no such recipe file")]) from None
    except OSError as exc:
        raise RecipeError(str(path), [("", f"cannot read: {exc}")]) from None
    try:
        return tomllib.loads(_decode(raw))
    except UnicodeDecodeError as exc:
        raise RecipeError(str(path), [("", _not_utf8(raw, exc))]) from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(str(path), [("", f"not valid TOML: {exc}")]) from None


def _decode(raw: bytes) -> str:
    return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "not UTF-8 text: the file is UTF-16 (its byte-order mark); save it as UTF-8"
    offset = exc.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
    line = raw[:offset].count(b"\n") + 1
    return (f"not UTF-8 text: byte 0x{raw[offset]:02x} at offset {offset} (line {line}); "
            f"save the file as UTF-8")


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` onto ``base``; a section whose ``kind`` changes is replaced, and
    a change of ``method.kind`` drops the base's sections the new method does not use."""
    return _merge(base, update, top=True)


def _merge(base: dict[str, Any], update: dict[str, Any], *, top: bool = False
           ) -> dict[str, Any]:
    out = copy.deepcopy(base)
    defaults = sections_of(base) if top else {}
    for key, value in update.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            if "kind" in value and old.get("kind", defaults.get(key)) != value["kind"]:
                out[key] = copy.deepcopy(value)
            else:
                out[key] = _merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    if top:
        drop_unused_sections(base, out, keep=set(update))
    return out


def drop_unused_sections(before: dict[str, Any], after: dict[str, Any], keep: set[str]) -> None:
    """After ``method.kind`` changed, drop inherited sections the new method does not read."""
    old, new = sections_of(before), sections_of(after)
    if old == new:
        return
    for section in set(old) - set(new) - keep:
        after.pop(section, None)


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe file and resolve its ``extends`` chain into one plain dict.

    ``path`` (and an ``extends``) that names no file may name a shipped recipe
    (``quickstart``; ``jepa_kit.shipped_recipes``); a file that exists wins.
    """
    path = Path(path)
    if not _seen and not path.is_file():
        shipped = find_shipped(path)
        if shipped is None and not path.exists():
            raise RecipeError(str(path), [("", missing_recipe(path))])
        path = shipped or path
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise RecipeError(str(path), [("extends", f"circular extends: {chain}")])
    data = read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RecipeError(str(path), [("extends", f"expected a file path, got {parent!r}")])
    base_path = path.parent / parent
    if not base_path.exists():  # no file of that name beside the recipe: a shipped one?
        base_path = find_shipped(parent) or base_path
    if not base_path.is_file():
        # A device or a fifo (``/dev/zero``) exists but would read forever or block; a folder
        # cannot be read at all: say which it is rather than "does not exist".
        what = ("is a folder, not a recipe file" if base_path.is_dir() else
                "is not a regular file (a device, fifo or socket); expected a recipe file"
                if base_path.exists() else "does not exist")
        raise RecipeError(str(path), [("extends", f"base recipe {base_path} {what} "
                                                  f"(given: {parent!r})")])
    return merge(load_raw(base_path, (*_seen, resolved)), data)


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested recipe (or override) table as ``{"dotted.key": value}``."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def parse_value(raw: str) -> Any:
    """A ``--set`` value: TOML (``1``, ``1e-3``, ``true``, ``[1, 2]``, ``"x"``) or a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` strings to a raw recipe dict."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise RecipeError("--set", [(item, "expected dotted.key=value, e.g. train.epochs=10")])
        *parents, leaf = key.split(".")
        node = data
        for i, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: i + 1])
                raise RecipeError("--set", [(key, f"{where} is a value, not a section")])
            node = child
        value = parse_value(raw.strip())
        if leaf == "kind" and len(parents) == 1 and node.get("kind", sections_of(data).get(
                parents[0])) != value:
            before = copy.deepcopy(data)
            node.clear()
            node[leaf] = value
            if parents[0] == "method":
                drop_unused_sections(before, data, keep=set())
            continue
        node[leaf] = value
    return data


