"""One PNG per comparison: loss curves per variant, then a bar chart per metric.

matplotlib is optional (the ``plot`` extra); ``require_matplotlib`` says how to get it before
any work is done.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from jepa_kit.errors import UserError
from jepa_kit.sweep.compare import BUILTIN, Group


def require_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UserError("--plot needs matplotlib, which is not installed: "
                        "pip install 'jepa-kit[plot]'") from None
    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def mean_curve(group: Group) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps every seed logged, with the mean, min and max loss across seeds at each."""
    curves = [dict(run.curve) for run in group.runs if run.curve]
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    values = [[c[s] for c in curves] for s in steps]
    return (steps, [statistics.fmean(v) for v in values], [min(v) for v in values],
            [max(v) for v in values])


def plot_comparison(groups: list[Group], metrics: list[str], path: Path) -> Path:
    plt = require_matplotlib()
    panels = [m for m in metrics if any(g.values(m) for g in groups)]
    cols = min(1 + len(panels), 3)
    rows = math.ceil((1 + len(panels)) / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.8 * rows), squeeze=False)
    axes = [ax for row in grid for ax in row]
    for spare in axes[1 + len(panels):]:
        spare.set_visible(False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax = axes[0]
    for i, group in enumerate(groups):
        steps, mean, low, high = mean_curve(group)
        color = colors[i % len(colors)]
        ax.plot(steps, mean, label=group.name, color=color)
        if len(group.runs) > 1:  # the spread over seeds
            ax.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
    ax.set(title="training loss", xlabel="step", ylabel="loss")
    ax.legend(fontsize="small")
    names = [g.name for g in groups]
    for ax, metric in zip(axes[1:], panels, strict=False):
        stats = [g.mean_std(metric) for g in groups]
        means = [s[0] if s else 0.0 for s in stats]
        errors = [s[1] or 0.0 if s else 0.0 for s in stats]
        ax.bar(range(len(groups)), means, yerr=errors if any(errors) else None, capsize=3,
               color=[colors[i % len(colors)] for i in range(len(groups))])
        ax.set_xticks(range(len(groups)), names, rotation=30, ha="right", fontsize="small")
        ax.set_title(BUILTIN.get(metric, metric))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
