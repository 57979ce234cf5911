"""Validating a composed recipe: older recipes migrated, component kinds checked against
the registry, pydantic's errors turned into ``dotted.key: message`` lines that name the
closest valid key, and the resolved recipe written back as a dict or TOML.
"""

from __future__ import annotations

import copy
import difflib
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from jepa_kit.recipe.base import (
    COMPONENT_SECTIONS,
    LEGACY_METHOD,
    LEGACY_VIEW_KEYS,
    RecipeError,
)
from jepa_kit.recipe.files import apply_overrides, load_raw
from jepa_kit.recipe.model import recipe_model, sections_of
from jepa_kit.recipe.sections import LEGACY_ADAMW_KEYS, OPTIM_SLOTS
from jepa_kit.registry import registry

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


# -- validation --------------------------------------------------------------------------------
def migrate(data: dict[str, Any], source: str) -> None:
    """Read an older recipe as today's, in place, with a warning naming the fix: a recipe
    without ``[method] kind`` is I-JEPA's; pre-views augmentation keys move from ``[data]``
    to ``[views]``."""
    method = data.setdefault("method", {})
    if isinstance(method, dict) and "kind" not in method:
        method["kind"] = LEGACY_METHOD
        warnings.warn(f"{source}: no [method] kind; read as {LEGACY_METHOD!r} (recipes "
                      f"without one are deprecated and will be refused in the next release); "
                      f"add [method] kind = \"{LEGACY_METHOD}\"", FutureWarning, stacklevel=3)
    body = data.get("data")
    if not isinstance(body, dict):
        return
    moved = [key for key in LEGACY_VIEW_KEYS if key in body]
    if not moved or (isinstance(data.get("views"), dict) and data["views"]):
        return
    data["views"] = {key: body.pop(key) for key in moved}
    warnings.warn(f"{source}: data.{', data.'.join(moved)} moved to [views] (the views "
                  f"component owns augmentation); update the recipe", FutureWarning,
                  stacklevel=3)


def _check_kinds(data: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    method = data.setdefault("method", {})
    if not isinstance(method, dict):
        return [("method", f"expected a [method] table, got {method!r}")]
    name = method.get("kind")
    if not isinstance(name, str) or name not in registry("method").names():
        return [("method.kind", registry("method").unknown_message(str(name)))]
    sections = sections_of(data)
    for section in COMPONENT_SECTIONS:
        if section in data and section not in sections:
            method_name = data["method"].get("kind")
            problems.append((section, f"method {method_name!r} does not use a [{section}] "
                             f"section (its sections: {', '.join(sections)}); remove it"))
    for section, default in sections.items():
        kind = COMPONENT_SECTIONS[section]
        body = data.get(section)
        if body is None:
            if default is None:
                problems.append((section, f"method {data['method'].get('kind')!r} needs a "
                                 f"[{section}] section naming a {kind} kind"))
                continue
            data[section] = body = {}
        if not isinstance(body, dict):
            problems.append((section, f"expected a [{section}] table, got {body!r}"))
            continue
        name = body.setdefault("kind", default)
        if name is None:
            problems.append((f"{section}.kind", f"missing; {registry(kind).unknown_message('')}"))
            continue
        reg = registry(kind)
        if not isinstance(name, str) or name not in reg.names():
            problems.append((f"{section}.kind", reg.unknown_message(str(name))))
            continue
        try:
            reg.load(name)
        except ValueError as exc:
            problems.append((f"{section}.kind", str(exc)))
    return problems + _check_regularizer_kinds(data.get("regularizers", [])) + \
        _check_regularizer_kinds(data.get("loggers", []), "loggers", "logger")


def _check_regularizer_kinds(entries: Any, section: str = "regularizers",
                             kind: str = "regularizer") -> list[tuple[str, str]]:
    if not isinstance(entries, list):
        return [(section, f"expected a list of [[{section}]] tables, got {entries!r}")]
    problems: list[tuple[str, str]] = []
    reg = registry(kind)
    for i, body in enumerate(entries):
        if not isinstance(body, dict):
            problems.append((f"{section}[{i}]", f"expected a table, got {body!r}"))
        elif not isinstance(body.get("kind"), str) or body["kind"] not in reg.names():
            problems.append((f"{section}[{i}].kind", reg.unknown_message(str(body.get("kind")))))
    return problems


def _dotted(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts = [str(p) for p in loc]
    # A discriminated union inserts the tag after the section name; users never write it.
    if len(parts) >= 2 and parts[0] in COMPONENT_SECTIONS:
        section = data.get(parts[0])
        if isinstance(section, dict) and section.get("kind") == parts[1]:
            parts.pop(1)
    if len(parts) >= 3 and parts[0] == "optim" and parts[1] in OPTIM_SLOTS:
        given = data.get("optim", {})
        body = given.get(parts[1]) if isinstance(given, dict) else None
        kind = body if isinstance(body, str) else (body or {}).get("kind")
        if parts[2] == (kind or OPTIM_SLOTS[parts[1]][1]):
            parts.pop(2)
        if parts[1] == "optimizer" and len(parts) >= 3 and parts[2] in LEGACY_ADAMW_KEYS and \
                isinstance(given, dict) and parts[2] in given:
            parts.pop(1)  # written as optim.betas: reported there
    if len(parts) >= 2 and parts[0] in ("regularizers", "loggers") and parts[1].isdigit():
        # regularizers[i], as a TOML reader counts [[regularizers]] tables, without the tag.
        entries = data.get(parts[0])
        i = int(parts[1])
        tagged = isinstance(entries, list) and i < len(entries) and len(parts) >= 3 and \
            isinstance(entries[i], dict) and entries[i].get("kind") == parts[2]
        head = f"{parts[0]}[{i}]"
        return ".".join([head, *parts[3 if tagged else 2:]])
    return ".".join(parts)


def _describe(error: dict[str, Any], data: dict[str, Any]) -> tuple[str, str]:
    key = _dotted(tuple(error["loc"]), data)
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        msg = "unknown key"
        section = key.split(".")[0]
        fields = recipe_model(data["method"]["kind"]).model_fields
        model = fields.get(section)
        if key.count(".") == 0:
            known = [*fields]
            msg = f"unknown section; sections: {', '.join(known)}"
            close = difflib.get_close_matches(key, known, n=1)
            if close:
                msg += f". Did you mean {close[0]!r}?"
        elif model is not None:
            msg += _closest_field(key, data)
    elif error["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    if "input" in error and error["type"] not in {"missing", "extra_forbidden"}:
        given = error["input"]
        if not isinstance(given, dict):
            msg += f" (given: {given!r})"
    return key, msg


def _closest_field(key: str, data: dict[str, Any]) -> str:
    section, *rest = key.split(".")
    fields: list[str] = []
    if section in COMPONENT_SECTIONS:
        name = data.get(section, {}).get("kind")
        try:
            cls = registry(COMPONENT_SECTIONS[section]).load(name)
            fields = list(cls.Config.model_fields)
        except ValueError:
            return ""
    elif section == "optim" and len(rest) >= 2 and rest[0] in OPTIM_SLOTS:
        kind, default = OPTIM_SLOTS[rest[0]]
        body = data.get("optim", {}).get(rest[0])
        name = body if isinstance(body, str) else (body or {}).get("kind", default)
        try:
            fields = list(registry(kind).load(name).Config.model_fields)
        except ValueError:
            return ""
        section = f"optim.{rest[0]}"
    else:
        annotation = recipe_model(data["method"]["kind"]).model_fields[section].annotation
        fields = list(getattr(annotation, "model_fields", {}))
    close = difflib.get_close_matches(rest[-1] if rest else "", fields, n=1)
    hint = f"; valid keys: {', '.join(f for f in fields if f != 'kind') or '(none but kind)'}"
    return hint + (f". Did you mean {section}.{close[0]!r}?" if close else "")


def validate_recipe(data: dict[str, Any], source: str = "<recipe>") -> Any:
    """Validate a raw recipe dict; ``RecipeError`` lists every problem with its dotted key."""
    data = copy.deepcopy(data)
    migrate(data, source)
    problems = _check_kinds(data)
    if problems:
        raise RecipeError(source, problems)
    try:
        recipe = recipe_model(data["method"]["kind"]).model_validate(data)
    except ValidationError as exc:
        raise RecipeError(source, [_describe(e, data) for e in exc.errors()]) from None
    except ValueError as exc:  # raised by a component's own hook outside pydantic's wrapping
        raise RecipeError(source, [("", str(exc))]) from None
    from jepa_kit.sizing import check_model_fits  # imports torch: only once a recipe is valid

    too_big = check_model_fits(recipe)
    if too_big is not None:
        raise RecipeError(source, [too_big])
    return recipe


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Any:
    """Read, compose (``extends``), override (``--set``) and validate a recipe file."""
    data = apply_overrides(load_raw(path), overrides)
    return validate_recipe(data, str(path))


def recipe_to_dict(recipe: BaseModel) -> dict[str, Any]:
    """The resolved recipe as plain, TOML- and JSON-compatible data."""
    return recipe.model_dump(mode="json", exclude_none=True)


def recipe_to_toml(recipe: BaseModel) -> str:
    import tomli_w

    return tomli_w.dumps(recipe_to_dict(recipe))

