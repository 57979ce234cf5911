"""``compare``: a table (and optionally CSV and PNG) of runs or whole sweeps, side by side."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.errors import UserError
from jepa_kit.sweep.compare import BUILTIN, Group, RunSummary, collect, resolve_metrics

# Off a terminal (CI logs, `> table.txt`) rich would squeeze the table into 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
PERCENT = {"knn_top1", "linear_top1"}


def fmt(metric: str, value: float) -> str:
    if metric in PERCENT:
        return f"{100 * value:.1f}%"
    if metric in ("images_per_s", "wall_s"):
        return f"{value:.1f}"
    if metric == "rankme":
        return f"{value:.2f}"
    return f"{value:.4f}"


def cell(group: Group, metric: str) -> str:
    stats = group.mean_std(metric)
    if stats is None:
        return "-"
    mean, std = stats
    if metric in PERCENT:  # the ± in points, like the mean
        return fmt(metric, mean) + ("" if std is None else f" ± {100 * std:.1f}")
    return fmt(metric, mean) + ("" if std is None else f" ± {fmt(metric, std)}")


def render(groups: list[Group], metrics: list[str], last: int) -> Table:
    several = any(len(g.runs) > 1 for g in groups)
    notes = [f"final values: mean of the last {last} logged"] if set(metrics) - {
        "knn_top1", "linear_top1", "images_per_s", "wall_s"} else []
    notes.append("mean ± std over seeds" if several else "one run per variant")
    table = Table(title="; ".join(notes))
    table.add_column("variant")
    table.add_column("vs base")
    if several:
        table.add_column("seeds", justify="right")
    table.add_column("steps", justify="right")
    for metric in metrics:
        table.add_column(BUILTIN.get(metric, metric), justify="right")
    for group in groups:
        steps = sorted({r.steps for r in group.runs})
        row = [group.name, " ".join(group.diff) or "(base)"]
        if several:
            row.append(str(len(group.runs)))
        row.append("/".join(map(str, steps)))
        table.add_row(*row, *(cell(group, m) for m in metrics))
    return table


def write_csv(groups: list[Group], metrics: list[str], path: Path) -> Path:
    """One row per run (not per group): the raw numbers, accuracies as fractions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "seed", "run_dir", "overrides", "steps", *metrics])
        for group in groups:
            for run in group.runs:
                writer.writerow([group.name, "" if run.seed is None else run.seed,
                                 str(run.run_dir), " ".join(group.diff), run.steps,
                                 *(repr(run.metrics[m]) if m in run.metrics else ""
                                   for m in metrics)])
    return path


def evaluate_runs(runs: list[RunSummary], protocols: list[str]) -> None:
    """Score each run's newest checkpoint with ``jepa-kit eval`` unless its JSON is current."""
    import json

    from jepa_kit.cli.evaluate import _evaluate
    from jepa_kit.rundir.checkpoint import list_checkpoints

    settings = {"knn": {"k": 20, "temperature": 0.07},
                "linear": {"epochs": 100, "batch_size": None, "seed": 0}}
    for protocol in protocols:
        if protocol not in settings:
            raise typer.BadParameter(f"expected knn or linear, got {protocol!r}",
                                     param_hint="--eval")
    for run in runs:
        found = list_checkpoints(run.run_dir / "checkpoints")
        if not found:
            out.print(f"{run.run_dir}: no checkpoint to evaluate")
            continue
        newest = found[-1]
        step = int(newest.stem.split("_")[1])
        for protocol in protocols:
            done = run.run_dir / f"eval_{protocol}.json"
            try:
                current = json.loads(done.read_text()).get("checkpoint_step") == step
            except (OSError, ValueError, AttributeError):
                current = False
            if not current:
                # The method's default encoder (I-JEPA: target; LeJEPA: its only one), so
                # runs of different methods compare like for like.
                _evaluate(protocol, newest, data_dir=None, dataset=None, which=None,
                          random_init=False, overrides=[], out_path=done, batch_size=128,
                          device="auto", bf16=False, settings=settings[protocol])


def compare(
    paths: list[Path] = typer.Argument(..., help="Run directories and/or sweep directories."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write one row per run here."),
    plot_path: Path | None = typer.Option(None, "--plot", help="Write loss curves and metric "
                                          "bars to this PNG (needs jepa-kit[plot])."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric to show (repeat); "
                                     "e.g. loss, knn, linear, rankme, img/s, wall, or any "
                                     "metrics.jsonl key. Default: all built-ins present."),
    evaluate: list[str] = typer.Option(None, "--eval", help="Run `jepa-kit eval knn` or "
                                       "`linear` on each run's newest checkpoint first."),
    last: int = typer.Option(5, "--last", min=1, help="Logged steps averaged for final values."),
) -> None:
    """Compare runs: final loss, kNN / linear accuracy, RankMe, img/s, wall time per variant.

    Runs of one variant that differ only in run.seed are grouped: mean ± std.
    """
    if plot_path is not None:
        from jepa_kit.sweep.plot import require_matplotlib

        require_matplotlib()  # before any work: say at once what is missing
        if plot_path.suffix.lower() != ".png":
            raise UserError(f"--plot {plot_path}: expected a .png file")
    groups = collect(paths, last=last)
    if evaluate:
        evaluate_runs([r for g in groups for r in g.runs], evaluate)
        groups = collect(paths, last=last)
    metrics = resolve_metrics(groups, metric)
    out.print(render(groups, metrics, last))
    if csv_path is not None:
        out.print(f"wrote {write_csv(groups, metrics, csv_path)}")
    if plot_path is not None:
        from jepa_kit.sweep.plot import plot_comparison

        out.print(f"wrote {plot_comparison(groups, metrics, plot_path)}")


def register(app: typer.Typer) -> None:
    app.command()(compare)
