"""``sweep``: run variants of a recipe (a ``--grid``, or an ablation file) one after another."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.cli.options import SetOption
from jepa_kit.errors import UserError
from jepa_kit.recipe import read_toml
from jepa_kit.shipped_recipes import find_shipped
from jepa_kit.sweep.ablation import load_ablation
from jepa_kit.sweep.plan import (
    SweepPlan,
    Variant,
    grid_variants,
    parse_grid,
    parse_seeds,
    safe_name,
    validate_plan,
    with_seeds,
)

out = Console(highlight=False, soft_wrap=True)

#: Where a sweep goes when no --output-dir is given: ``runs/sweeps/<plan name>``.
SWEEPS_DIR = Path("runs") / "sweeps"


def _plan(target: Path | None, ablation: Path | None, grid: list[str], seeds: list[int] | None,
          overrides: list[str]) -> SweepPlan:
    if ablation is not None and target is not None:
        raise UserError("give either a RECIPE / ABLATION file or --ablation FILE, not both")
    path = ablation or target
    if path is None:
        raise UserError("nothing to sweep: give a RECIPE with --grid, or an ablation file")
    if not path.exists():  # no such file here: a shipped recipe's name (ablations/masking)?
        path = find_shipped(path) or path
    if ablation is None and "variants" not in read_toml(path):
        if not grid and not seeds:
            raise UserError(f"{path} is a recipe: give --grid key=v1,v2 and/or --seeds 0,1 "
                            "(or an ablation file with variants.NAME tables)")
        variants = grid_variants(grid) if grid else [Variant("base", ())]
        labels = "+".join(safe_name(key.rsplit(".", 1)[-1]) for key, _ in parse_grid(grid))
        return SweepPlan(base=path, variants=tuple(with_seeds(variants, seeds)),
                         common=tuple(overrides), source="--grid" if grid else str(path),
                         name=f"{path.stem}-{labels or 'seeds'}")
    if grid:
        raise UserError(f"{path} is an ablation file: its variants replace --grid")
    return load_ablation(path, seeds, overrides)


def sweep(
    target: Path | None = typer.Argument(None, help="A recipe (with --grid) or an ablation "
                                         "file (with \\[variants.NAME] tables)."),
    ablation: Path | None = typer.Option(None, "--ablation", "-a", help="Ablation file."),
    grid: list[str] = typer.Option(None, "--grid", "-g", metavar="KEY=V1,V2",
                                   help="Values to sweep; several --grid give their product."),
    seeds: str | None = typer.Option(None, "--seeds", metavar="0,1,2",
                                     help="Run every variant once per seed (run.seed)."),
    overrides: list[str] = SetOption,
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o",
                                           help="Sweep directory (default: runs/sweeps/NAME)."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: recipe)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and list; train nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-step progress output."),
) -> None:
    """Run variants one after another; a re-run skips finished ones and resumes the rest.

    Every variant is validated before any runs. Each runs in SWEEP_DIR/VARIANT-seedN (no
    suffix without --seeds); SWEEP_DIR/sweep.json lists them. Compare them with
    `jepa-kit compare SWEEP_DIR`.
    """
    if device not in (None, "cpu", "cuda"):
        raise typer.BadParameter(f"expected cpu or cuda, got {device!r}", param_hint="--device")
    plan = _plan(target, ablation, grid or [], parse_seeds(seeds), overrides or [])
    sweep_dir = output_dir or SWEEPS_DIR / plan.name
    if dry_run:
        validate_plan(plan)
        table = Table(title=f"{plan.source}: {len(plan.variants)} runs in {sweep_dir}")
        table.add_column("run")
        table.add_column("overrides of the base recipe")
        for variant in plan.variants:
            seed = [] if variant.seed is None else [f"run.seed={variant.seed}"]
            own = [*variant.overrides, *seed]
            table.add_row(variant.name, " ".join(own) or "(none)")
        out.print(table)
        out.print(f"base: {plan.base}" + (f"; every run also: {' '.join(plan.common)}"
                                          if plan.common else ""))
        return

    from jepa_kit.sweep.runner import run_sweep

    try:
        result = run_sweep(plan, sweep_dir, device=device, quiet=quiet, console=out)
    except KeyboardInterrupt:
        out.print(f"interrupted; the same command resumes the sweep in {sweep_dir}")
        raise typer.Exit(130) from None
    out.print(f"sweep done: {len(result.ran)} ran, {len(result.resumed)} resumed, "
              f"{len(result.skipped)} skipped, {len(result.failed)} failed; "
              f"compare with: jepa-kit compare {sweep_dir}")
    if result.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(sweep)
