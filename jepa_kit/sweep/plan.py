"""What a sweep runs: named variants of one base recipe, each a list of ``--set`` overrides.

A variant's recipe is the base recipe, then the sweep's common ``--set`` overrides, then the
variant's own overrides, then ``run.seed`` when the sweep has seeds. Overrides go through
``jepa_kit.recipe.apply_overrides``, so a variant that changes a section's ``kind`` starts that
section afresh exactly as ``jepa-kit run --set`` does. Every variant is validated before any runs.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jepa_kit.errors import UserError
from jepa_kit.recipe import (
    RecipeError,
    apply_overrides,
    load_raw,
    parse_value,
    validate_recipe,
)

#: Names become directory names: letters, digits and ``. _ - +`` only, never a leading dot.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class SweepError(UserError):
    """A sweep cannot run as given; the message names the variant, the key and the source."""


@dataclass(frozen=True)
class Variant:
    """One run of a sweep. ``group`` names the variant across seeds; ``name`` its run dir."""

    group: str
    overrides: tuple[str, ...]
    seed: int | None = None

    @property
    def name(self) -> str:
        return self.group if self.seed is None else f"{self.group}-seed{self.seed}"


@dataclass(frozen=True)
class SweepPlan:
    """A base recipe, the overrides every variant shares, and the variants, in run order."""

    base: Path
    variants: tuple[Variant, ...]
    common: tuple[str, ...] = ()
    source: str = "--grid"
    name: str = "sweep"

    def overrides(self, variant: Variant) -> list[str]:
        seed = [] if variant.seed is None else [f"run.seed={variant.seed}"]
        return [*self.common, *variant.overrides, *seed]


def safe_name(text: str) -> str:
    """``text`` with every run of unsafe characters turned into one ``-``."""
    return _UNSAFE.sub("-", text).strip("-.") or "x"


def split_values(raw: str) -> list[str]:
    """Split ``v1,v2`` on the commas outside brackets and quotes: ``[1,2],[3,4]`` is two."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(raw):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(raw[start:i])
            start = i + 1
    parts.append(raw[start:])
    return [p.strip() for p in parts]


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["masker.num_targets=1,2,4"]`` -> ``[("masker.num_targets", ["1", "2", "4"])]``."""
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        values = split_values(raw) if sep else []
        if not key or any(not part for part in key.split(".")) or not all(values):
            raise SweepError(f"--grid {item!r}: expected dotted.key=v1,v2,..., "
                             "e.g. --grid masker.num_targets=1,2,4")
        if key in (k for k, _ in axes):
            raise SweepError(f"--grid {key}: given twice; list all its values in one --grid")
        axes.append((key, values))
    return axes


def _axis_label(key: str, keys: Sequence[str]) -> str:
    leaf = key.rsplit(".", 1)[-1]
    # encoder.depth and predictor.depth in one grid: the leaf alone would be ambiguous.
    clash = sum(k.rsplit(".", 1)[-1] == leaf for k in keys) > 1
    return key if clash else leaf


def grid_variants(items: Sequence[str]) -> list[Variant]:
    """The cartesian product of ``--grid`` axes, named like ``num_targets-2+depth-4``."""
    axes = parse_grid(items)
    keys = [key for key, _ in axes]
    variants = []
    for combo in itertools.product(*(values for _, values in axes)):
        overrides = tuple(f"{key}={value}" for key, value in zip(keys, combo, strict=True))
        name = "+".join(f"{safe_name(_axis_label(key, keys))}-{safe_name(value)}"
                        for key, value in zip(keys, combo, strict=True))
        variants.append(Variant(name, kind_first(overrides)))
    return variants


def kind_first(overrides: Iterable[str]) -> tuple[str, ...]:
    """A ``section.kind`` override resets its section, so it must come before the section's
    other keys or it would wipe them."""
    items = list(overrides)
    return tuple(sorted(items, key=lambda o: not o.partition("=")[0].endswith(".kind")))


def with_seeds(variants: Sequence[Variant], seeds: Sequence[int] | None) -> list[Variant]:
    if not seeds:
        return list(variants)
    return [Variant(v.group, v.overrides, seed) for v in variants for seed in seeds]


def parse_seeds(raw: str | None) -> list[int] | None:
    if raw is None:
        return None
    try:
        seeds = [int(part) for part in split_values(raw)]
    except ValueError:
        raise SweepError(f"--seeds {raw!r}: expected integers, e.g. --seeds 0,1,2") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise SweepError(f"--seeds {raw!r}: expected distinct integers >= 0")
    return seeds


def check_names(variants: Sequence[Variant], source: str) -> None:
    seen: dict[str, Variant] = {}
    for v in variants:
        if not SAFE_NAME.match(v.group):
            raise SweepError(f"{source}: variant {v.group!r}: not a safe directory name; use "
                             "letters, digits and . _ - + only")
        if v.name in seen:
            raise SweepError(f"{source}: variants {seen[v.name].overrides} and {v.overrides} "
                             f"both get the name {v.name!r}")
        seen[v.name] = v


def validate_plan(plan: SweepPlan) -> dict[str, Any]:
    """Validate every variant; ``SweepError`` lists each bad variant with its keys at once."""
    check_names(plan.variants, plan.source)
    base = load_raw(plan.base)
    resolved: dict[str, Any] = {}
    problems: list[str] = []
    for variant in plan.variants:
        try:
            raw = apply_overrides(base, plan.overrides(variant))
            resolved[variant.name] = validate_recipe(raw, str(plan.base))
        except RecipeError as exc:
            for key, msg in exc.problems:
                problems.append(f"variant {variant.name!r}: {key}: {msg}" if key
                                else f"variant {variant.name!r}: {msg}")
    if problems:
        raise SweepError(f"{plan.source}: invalid sweep (nothing was run)\n  "
                         + "\n  ".join(problems))
    return resolved


def literal(value: Any) -> str:
    """A TOML value as ``--set`` reads it back with ``parse_value`` (one line, lists inline)."""
    import tomli_w

    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. one [[regularizers]] entry
        keys = [k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k) for k in value]
        return "{" + ", ".join(f"{k} = {literal(v)}" for k, v in zip(keys, value.values(),
                                                                      strict=True)) + "}"
    text = tomli_w.dumps({"v": value}).strip()[len("v = "):]
    assert parse_value(text) == value, (value, text)
    return text
