"""Run a sweep: every variant in turn, in this process, with the trainer ``jepa-kit run`` uses.

Each variant gets ``<sweep_dir>/<variant>[-seed<N>]``. A variant whose directory holds a
``finished.json`` next to the same resolved ``recipe.toml`` is skipped; one that holds an
unfinished run (checkpoints or metrics, no finished record) is resumed from its newest valid
checkpoint, which the trainer makes bit-exact on CPU. So re-running an interrupted sweep
finishes it without repeating work. The recipe's loggers see each run tagged with the sweep,
its variant and its seed (``variant_tags``), so a tracker groups a variant's seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from jepa_kit import __version__
from jepa_kit.recipe import RecipeBase, flatten, recipe_to_dict, recipe_to_toml
from jepa_kit.rundir.directory import holds_run
from jepa_kit.rundir.finished import read_finished
from jepa_kit.sweep.manifest import FORMAT, read_manifest, variant_entries, write_manifest
from jepa_kit.sweep.plan import SweepError, SweepPlan, Variant, validate_plan


@dataclass
class SweepResult:
    sweep_dir: Path
    ran: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def is_finished(run_dir: Path, recipe: RecipeBase) -> bool:
    """The run in ``run_dir`` ended, and with this very recipe (not an older sweep's)."""
    recipe_file = run_dir / "recipe.toml"
    return (read_finished(run_dir) is not None and recipe_file.is_file()
            and recipe_file.read_text() == recipe_to_toml(recipe))


def check_run_dirs(plan: SweepPlan, sweep_dir: Path, recipes: dict[str, Any]) -> None:
    """Refuse before training anything if a variant's directory holds a run of another recipe
    (the base recipe or the ablation file changed since): resuming it would mix the two."""
    from jepa_kit.sweep.compare import flat_recipe, recipe_diff

    clashes = []
    for variant in plan.variants:
        old = flat_recipe(sweep_dir / variant.name)
        new = flatten(recipe_to_dict(recipes[variant.name]))
        changed = recipe_diff(new, old) if old else []
        if changed:
            shown = " ".join(changed[:4]) + (" ..." if len(changed) > 4 else "")
            clashes.append(f"variant {variant.name!r}: the recipe now sets {shown}")
    if clashes:
        raise SweepError(f"{sweep_dir} holds runs of other recipes; choose another --output-dir "
                         "or delete them (nothing was run)\n  " + "\n  ".join(clashes))


def variant_tags(plan: SweepPlan, variant: Variant) -> dict[str, str]:
    """What a tracker groups a sweep's runs by: the sweep, the variant across its seeds (W&B's
    group) and the seed."""
    tags = {"sweep": plan.name, "variant": variant.group}
    if variant.seed is not None:
        tags["seed"] = str(variant.seed)
    return tags


def _entry(plan: SweepPlan, variant: Variant, status: str) -> dict[str, Any]:
    return {"name": variant.name, "group": variant.group, "seed": variant.seed,
            "overrides": list(variant.overrides), "run_dir": variant.name, "status": status}


def _merge_manifest(plan: SweepPlan, sweep_dir: Path) -> dict[str, Any]:
    """The manifest for ``plan``; variants an earlier, different sweep left here are kept."""
    old = read_manifest(sweep_dir) or {}
    previous = {e.get("name"): e for e in variant_entries(old)}
    if old and list(old.get("common", [])) != list(plan.common):
        raise SweepError(
            f"{sweep_dir} holds a sweep with other shared overrides ({old.get('common')}, now "
            f"{list(plan.common)}); choose another --output-dir")
    entries = []
    for variant in plan.variants:
        entry = _entry(plan, variant, "pending")
        before = previous.pop(variant.name, None)
        if before is not None:
            if before.get("overrides") != entry["overrides"]:
                raise SweepError(
                    f"{sweep_dir}: variant {variant.name!r} already ran with overrides "
                    f"{before.get('overrides')}, not {entry['overrides']}; choose another "
                    f"--output-dir (nothing was overwritten)")
            entry = {**before, **entry, "status": before.get("status", "pending")}
        entries.append(entry)
    return {"format": FORMAT, "version": 1, "jepa_kit": __version__, "name": plan.name,
            "source": plan.source, "base": str(plan.base.resolve()), "common": list(plan.common),
            "variants": entries + list(previous.values())}


def run_sweep(plan: SweepPlan, sweep_dir: Path, *, device: str | None = None,
              quiet: bool = False, console: Console | None = None) -> SweepResult:
    """Validate every variant, then run the unfinished ones one after another."""
    from jepa_kit.train.trainer import RunStopped, train

    console = console or Console(highlight=False, soft_wrap=True)
    recipes = validate_plan(plan)
    manifest = _merge_manifest(plan, sweep_dir)
    check_run_dirs(plan, sweep_dir, recipes)
    entries = {e["name"]: e for e in variant_entries(manifest)}
    write_manifest(sweep_dir, manifest)
    result = SweepResult(sweep_dir)
    total = len(plan.variants)

    def mark(name: str, status: str, **extra: Any) -> None:
        entries[name].pop("error", None)
        entries[name].update(status=status, **extra)
        write_manifest(sweep_dir, manifest)

    for index, variant in enumerate(plan.variants, start=1):
        run_dir, recipe = sweep_dir / variant.name, recipes[variant.name]
        label = f"[{index}/{total}] {variant.name}"
        if is_finished(run_dir, recipe):
            console.print(f"{label}: finished earlier, skipped")
            result.skipped.append(variant.name)
            mark(variant.name, "finished")
            continue
        resume = holds_run(run_dir)
        what = " ".join(variant.overrides) or "the base recipe"
        console.print(f"{label}: {'resuming' if resume else 'running'} {what}")
        mark(variant.name, "running")
        tic = time.perf_counter()
        try:
            train(recipe, output_dir=run_dir, resume=resume, device=device, quiet=quiet,
                  tags=variant_tags(plan, variant))
        except RunStopped as exc:
            # A diverging or collapsing variant is a result of the ablation, not a reason to
            # stop the rest.
            console.print(f"[bold red]{label} stopped:[/] {exc}")
            result.failed.append(variant.name)
            mark(variant.name, exc.status, error=str(exc))
            continue
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            mark(variant.name, "interrupted" if interrupted else "failed",
                 error=f"{type(exc).__name__}: {exc}")
            raise
        (result.resumed if resume else result.ran).append(variant.name)
        mark(variant.name, "finished", seconds=round(time.perf_counter() - tic, 2))
    return result
