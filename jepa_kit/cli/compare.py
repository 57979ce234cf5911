"""``compare``: a table (and optionally CSV and PNG) of runs or whole sweeps, side by side."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.errors import UserError
from jepa_kit.sweep.compare import (
    Group,
    RunSummary,
    collect,
    columns,
    protocol_columns,
    resolve_metrics,
)

# Off a terminal (CI logs, `> table.txt`) rich would squeeze the table into 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)


def percent_and_gains() -> tuple[set[str], set[str]]:
    """The protocols' headline metrics (fractions, shown as percentages) and their gains over
    the random-init baseline (differences of two fractions, shown in points)."""
    headline, gains = protocol_columns()
    return set(headline), set(gains)


def fmt(metric: str, value: float) -> str:
    percent, gains = percent_and_gains()
    if metric in percent:
        return f"{100 * value:.1f}%"
    if metric in gains:
        return f"{100 * value:+.1f}"
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
    if metric in set().union(*percent_and_gains()):  # the ± in points, like the mean
        text = fmt(metric, mean) + ("" if std is None else f" ± {100 * std:.1f}")
        return text + noise_note(group, metric)
    return fmt(metric, mean) + ("" if std is None else f" ± {fmt(metric, std)}")


def noise_note(group: Group, metric: str) -> str:
    """`` (within noise)`` when every run's gain is (``k/n within noise`` when some are)."""
    flags = [r.within_noise[metric] for r in group.runs if metric in r.within_noise]
    if not any(flags):
        return ""
    return " (within noise)" if all(flags) else f" ({sum(flags)}/{len(flags)} within noise)"


def status_cell(group: Group) -> str:
    """``finished``, or what went otherwise and in how many of the group's runs:
    ``collapsed 2/3``."""
    counts = Counter(r.status for r in group.runs)
    if set(counts) == {"finished"}:
        return "finished"
    n = len(group.runs)
    return ", ".join(f"{status} {k}/{n}" if n > 1 else status
                     for status, k in counts.most_common() if status != "finished")


def render(groups: list[Group], metrics: list[str], last: int) -> Table:
    several = any(len(g.runs) > 1 for g in groups)
    # Only when a run ended otherwise: a table of finished runs keeps its width.
    show_status = any(r.status != "finished" for g in groups for r in g.runs)
    percent, gains = percent_and_gains()
    titles = columns()
    notes = [f"final values: mean of the last {last} logged"] if set(metrics) - {
        "images_per_s", "wall_s", *percent, *gains} else []
    notes.append("mean ± std over seeds" if several else "one run per variant")
    if gains & set(metrics):
        notes.append("gain: points over the random-init encoder")
    table = Table(title="; ".join(notes))
    table.add_column("variant")
    table.add_column("vs base")
    if several:
        table.add_column("seeds", justify="right")
    table.add_column("steps", justify="right")
    if show_status:
        table.add_column("status")
    for metric in metrics:
        table.add_column(titles.get(metric, metric), justify="right")
    for group in groups:
        steps = sorted({r.steps for r in group.runs})
        row = [group.name, " ".join(group.diff) or "(base)"]
        if several:
            row.append(str(len(group.runs)))
        row.append("/".join(map(str, steps)))
        if show_status:
            row.append(status_cell(group))
        table.add_row(*row, *(cell(group, m) for m in metrics))
    return table


def write_csv(groups: list[Group], metrics: list[str], path: Path) -> Path:
    """One row per run (not per group): the raw numbers, accuracies as fractions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "seed", "run_dir", "overrides", "steps", "status",
                         *metrics])
        for group in groups:
            for run in group.runs:
                writer.writerow([group.name, "" if run.seed is None else run.seed,
                                 str(run.run_dir), " ".join(group.diff), run.steps, run.status,
                                 *(repr(run.metrics[m]) if m in run.metrics else ""
                                   for m in metrics)])
    return path


def run_which(run_dir: Path) -> str | None:
    """The encoder a run's recipe evaluates (``eval.which``; None: the method's default)."""
    from jepa_kit.sweep.compare import flat_recipe

    which = flat_recipe(run_dir).get("eval.which")
    return which if isinstance(which, str) and which else None


def evaluate_runs(runs: list[RunSummary], protocols: list[str]) -> None:
    """Score each run's newest checkpoint with ``jepa_kit.evaluate`` unless its JSON is current.

    Each run is scored on the encoder its recipe's ``eval.which`` names (the method's default
    when unset), the one its periodic evaluation watched, with its random-init baseline
    (cached, so the runs of one architecture and seed share one); a JSON scored on another
    encoder or an older checkpoint, or without a baseline, is redone. Protocol settings are
    the protocols' defaults."""
    import json

    from jepa_kit.checkpoint import checkpoint_step, list_checkpoints
    from jepa_kit.cli.eval_report import print_result
    from jepa_kit.eval.evaluate import evaluate
    from jepa_kit.registry import registry

    names = registry("eval_protocol").names()
    for protocol in protocols:
        if protocol not in names:
            raise typer.BadParameter(f"expected {', '.join(names[:-1])} or {names[-1]}, got "
                                     f"{protocol!r}", param_hint="--eval")
    for run in runs:
        found = list_checkpoints(run.run_dir / "checkpoints")
        if not found:
            out.print(f"{run.run_dir}: no checkpoint to evaluate")
            continue
        newest = found[-1]
        step = checkpoint_step(newest)
        which = run_which(run.run_dir)
        for protocol in protocols:
            done = run.run_dir / f"eval_{protocol}.json"
            try:
                previous = json.loads(done.read_text())
                current = previous.get("checkpoint_step") == step and "gain" in previous and (
                    which is None or previous.get("which") == which)
            except (OSError, ValueError, AttributeError):
                current = False
            if not current:
                evaluation = evaluate(newest, protocol, which=which, out_path=done)
                if evaluation is not None:
                    print_result(evaluation)


def compare(
    paths: list[Path] = typer.Argument(..., help="Run directories and/or sweep directories."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write one row per run here."),
    plot_path: Path | None = typer.Option(None, "--plot", help="Write loss curves and metric "
                                          "bars to this PNG (needs jepa-kit[plot])."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric to show (repeat); "
                                     "e.g. loss, knn, linear, rankme, img/s, wall, or any "
                                     "metrics.jsonl key. Default: all built-ins present."),
    evaluate: list[str] = typer.Option(None, "--eval", help="Run an evaluation protocol "
                                       "(knn, linear, attentive or a plug-in's; repeat) on each "
                                       "run's newest checkpoint first, on the encoder its "
                                       "recipe's eval.which names."),
    last: int = typer.Option(5, "--last", min=1, help="Logged steps averaged for final values."),
) -> None:
    """Compare runs: final loss, every evaluation protocol's accuracy and gain, RankMe, img/s,
    wall time.

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
