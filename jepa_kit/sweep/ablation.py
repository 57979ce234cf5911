"""Ablation files: a base recipe and named variants, each a table of dotted-key overrides.

```toml
base = "../quickstart.toml"      # relative to this file, else a shipped recipe's name
seeds = [0, 1]                   # optional; --seeds replaces it
[set]                            # optional: applied before every variant, like --set
"train.epochs" = 2
[variants.multiblock]            # an empty table runs the base as it is
[variants.random]
"masker.kind" = "random"         # a kind change starts the section afresh, as with --set
"masker.target_ratio" = 0.6
```

Values are TOML values, read back exactly as ``--set`` reads them. Unquoted dotted keys
(``masker.kind = "random"``) and inline tables mean the same as the quoted form.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jepa_kit.recipe import RecipeError, flatten, read_toml
from jepa_kit.shipped_recipes import find_shipped
from jepa_kit.sweep.plan import (
    SweepError,
    SweepPlan,
    Variant,
    kind_first,
    literal,
    with_seeds,
)

KEYS = ("base", "seeds", "set", "variants")


def _overrides(table: Any, where: str) -> tuple[str, ...]:
    if not isinstance(table, dict):
        raise SweepError(f"{where}: expected a table of \"dotted.key\" = value overrides, "
                         f"got {table!r}")
    return kind_first(f"{key}={literal(value)}" for key, value in flatten(table).items())


def load_ablation(path: Path, seeds: Sequence[int] | None = None,
                  common: Sequence[str] = ()) -> SweepPlan:
    """Read an ablation file into a plan; ``seeds`` / ``common`` come from the command line."""
    try:
        data = read_toml(path)
    except RecipeError as exc:
        raise SweepError(f"{path}: {exc.problems[0][1]}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise SweepError(f"{path}: unknown key {unknown[0]!r}; an ablation file has "
                         f"{', '.join(KEYS)}")
    base = data.get("base")
    if not isinstance(base, str):
        raise SweepError(f"{path}: base: expected the base recipe's path, e.g. "
                         f"base = \"../quickstart.toml\", got {base!r}")
    base_path = path.parent / base
    if not base_path.exists():  # no file of that name beside it: a shipped recipe's name?
        base_path = find_shipped(base) or base_path
    if not base_path.is_file():
        raise SweepError(f"{path}: base: {base_path} does not exist")
    file_seeds = data.get("seeds")
    if file_seeds is not None and (not isinstance(file_seeds, list) or not all(
            isinstance(s, int) and s >= 0 for s in file_seeds)):
        raise SweepError(f"{path}: seeds: expected a list of integers >= 0, got {file_seeds!r}")
    table = data.get("variants")
    if not isinstance(table, dict) or not table:
        raise SweepError(f"{path}: variants: expected at least one variants.NAME table")
    variants = [Variant(name, _overrides(body, f"{path}: variant {name!r}"))
                for name, body in table.items()]
    shared = _overrides(data.get("set", {}), f"{path}: set")
    return SweepPlan(
        base=base_path, variants=tuple(with_seeds(variants, seeds or file_seeds)),
        common=(*shared, *common), source=str(path), name=path.stem,
    )
