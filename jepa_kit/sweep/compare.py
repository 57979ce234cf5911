"""Read finished (or running) runs into comparable numbers, grouped over seeds.

Per run: the final loss (mean of the last ``last`` logged losses, which smooths the per-batch
noise of one step); for every installed evaluation protocol (``jepa_kit.eval.protocols``) its
headline metrics from ``eval_<protocol>.json`` beside the run, or from ``metrics.jsonl`` when
a periodic evaluation logged a later one, and the gain over the random-init baseline when the
JSON holds one and its score is the one shown; RankMe (mean of the last ``last`` logged
values), the median img/s over logged steps (the median ignores the slow first steps), and the
wall time from ``finished.json``. Runs of one variant that differ only in their seed form a
group: mean and sample standard deviation.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jepa_kit.errors import UserError
from jepa_kit.recipe import flatten, read_toml
from jepa_kit.rundir.finished import read_finished
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.sweep.manifest import MANIFEST, read_manifest, variant_entries

#: Metric key -> column title of the columns that are not an evaluation protocol's.
TRAINING: dict[str, str] = {"loss": "final loss", "rankme": "RankMe", "images_per_s": "img/s",
                            "wall_s": "wall (s)"}
TRAINING_ALIASES = {"img/s": "images_per_s", "throughput": "images_per_s", "wall": "wall_s",
                    "time": "wall_s"}


def _metric_title(key: str) -> str:
    return {"top1": "top-1", "top5": "top-5"}.get(key, key)


def protocol_columns() -> tuple[dict[str, str], dict[str, str]]:
    """(headline columns, gain columns) of every installed eval protocol: metric key -> title,
    e.g. ``knn_top1`` -> ``kNN top-1`` and ``knn_gain`` -> ``kNN gain``. Headline metrics are
    fractions; gains are differences of two fractions."""
    from jepa_kit.eval.protocols.base import protocol_title
    from jepa_kit.registry import registry

    headline: dict[str, str] = {}
    gains: dict[str, str] = {}
    for name, cls in registry("eval_protocol").load_all().items():
        title = protocol_title(name, cls)  # type: ignore[arg-type]
        for key in cls.headline:  # type: ignore[attr-defined]
            headline[f"{name}_{key}"] = f"{title} {_metric_title(key)}"
        gains[f"{name}_gain"] = f"{title} gain"
    return headline, gains


def columns() -> dict[str, str]:
    """Every built-in column, in table order: metric key -> title. Accuracies are fractions."""
    headline, gains = protocol_columns()
    return {"loss": TRAINING["loss"], **headline, **gains,
            **{k: v for k, v in TRAINING.items() if k != "loss"}}


def aliases() -> dict[str, str]:
    """``--metric`` short names: ``knn`` for ``knn_top1``, ``knn-gain`` for ``knn_gain``, ..."""
    headline, gains = protocol_columns()
    found = {k.removesuffix("_top1"): k for k in headline if k.endswith("_top1")}
    found |= {k.replace("_gain", "-gain"): k for k in gains}
    return found | TRAINING_ALIASES


def __getattr__(name: str) -> dict[str, str]:
    # ``BUILTIN`` and ``ALIASES`` follow the installed protocols, so they are computed on use.
    if name == "BUILTIN":
        return columns()
    if name == "ALIASES":
        return aliases()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Keys that differ between seeds of one variant by design, never shown as a difference.
SEED_KEYS = {"run.seed"}
_SEED_SUFFIX = re.compile(r"-seed\d+$")


@dataclass
class RunSummary:
    run_dir: Path
    group: str
    diff: list[str]
    seed: int | None
    steps: int
    metrics: dict[str, float]
    curve: list[tuple[int, float]] = field(default_factory=list)
    resumed: bool = False
    #: Gain metric -> whether that run's gain is within noise (``jepa_kit.eval.baseline``).
    within_noise: dict[str, bool] = field(default_factory=dict)
    #: ``finished``, ``collapsed`` (``train.stop_on_collapse``), ``failed``, ``interrupted``,
    #: ``running`` or ``incomplete``: see ``run_status``.
    status: str = "finished"


@dataclass
class Group:
    name: str
    diff: list[str]
    runs: list[RunSummary]

    def values(self, metric: str) -> list[float]:
        return [r.metrics[metric] for r in self.runs if metric in r.metrics]

    def mean_std(self, metric: str) -> tuple[float, float | None] | None:
        values = self.values(metric)
        if not values:
            return None
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def expand(paths: list[Path]) -> list[tuple[Path, dict[str, Any] | None]]:
    """Run directories (a sweep directory gives its variants), each with its manifest entry."""
    found: list[tuple[Path, dict[str, Any] | None]] = []
    for path in paths:
        manifest = read_manifest(path) if path.is_dir() else None
        if manifest is not None:
            runs = [(path / str(e.get("run_dir", e.get("name"))), e)
                    for e in variant_entries(manifest)]
            found += [(d, e) for d, e in runs if (d / "metrics.jsonl").exists()]
        elif (path / "metrics.jsonl").exists():
            found.append((path, None))
        else:
            raise UserError(f"{path}: neither a run directory (metrics.jsonl) nor a sweep "
                            f"directory ({MANIFEST})")
    if not found:
        raise UserError("no runs to compare: the sweep directories hold no run with metrics yet")
    return found


def flat_recipe(run_dir: Path) -> dict[str, Any]:
    """The resolved ``recipe.toml`` of a run, flattened; empty when there is none."""
    path = run_dir / "recipe.toml"
    return flatten(read_toml(path)) if path.is_file() else {}


def recipe_diff(run: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """``key=value`` for every resolved field of ``run`` that ``base`` lacks or sets otherwise;
    a component swap shows as its ``kind`` plus the options that came with it."""
    return [f"{key}={json.dumps(value)}" for key, value in run.items()
            if key not in SEED_KEYS and base.get(key) != value]


def _mean_last(rows: list[dict[str, Any]], key: str, last: int) -> float | None:
    values = [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.fmean(values[-last:]) if values else None


@dataclass
class EvalScore:
    """What ``compare`` reads from ``jepa-kit eval PROTOCOL``'s JSON beside a run."""

    step: int  # the checkpoint's
    values: dict[str, float]  # headline metric -> value
    gain: float | None  # over the random-init baseline; None when the JSON has none
    within_noise: bool


def _eval_score(run_dir: Path, protocol: str, headline: tuple[str, ...]) -> EvalScore | None:
    try:
        data = json.loads((run_dir / f"eval_{protocol}.json").read_text())
        gain = data.get("gain")
        values = {k: float(data["metrics"][k]) for k in headline if k in data["metrics"]}
        return EvalScore(int(data["checkpoint_step"]), values,
                         None if gain is None else float(gain["top1"]),
                         bool(gain and gain["within_noise"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _protocol_metrics(run_dir: Path, rows: list[dict[str, Any]]
                      ) -> tuple[dict[str, float], dict[str, bool]]:
    """Every protocol's headline metrics and gain; a periodic evaluation logged later than
    the JSON's checkpoint wins (on a tie the JSON, which carries the gain)."""
    from jepa_kit.registry import registry

    metrics: dict[str, float] = {}
    within_noise: dict[str, bool] = {}
    for name, cls in registry("eval_protocol").load_all().items():
        headline: tuple[str, ...] = cls.headline  # type: ignore[attr-defined]
        score = _eval_score(run_dir, name, headline)
        logged = [(int(r.get("step", 0)), {k: float(r[f"{name}_{k}"]) for k in headline
                                           if f"{name}_{k}" in r})
                  for r in rows if f"{name}_top1" in r]
        if logged and (score is None or logged[-1][0] > score.step):
            metrics.update({f"{name}_{k}": v for k, v in logged[-1][1].items()})
            continue  # the JSON's gain belongs to an older checkpoint than the score shown
        if score is None:
            continue
        metrics.update({f"{name}_{k}": v for k, v in score.values.items()})
        if score.gain is not None:
            metrics[f"{name}_gain"] = score.gain
            within_noise[f"{name}_gain"] = score.within_noise
    return metrics, within_noise


def run_status(run_dir: Path, rows: list[dict[str, Any]], entry: dict[str, Any] | None) -> str:
    """How a run ended. A sweep's manifest knows best (it saw the exception); outside a sweep a
    ``stopped`` row in metrics.jsonl names the reason (collapse), ``finished.json`` means the
    loop reached its end, and anything else is ``incomplete`` (crashed, killed or still
    running: the files alone cannot tell which)."""
    status = entry.get("status") if entry is not None else None
    if isinstance(status, str) and status != "pending":
        return status
    stopped = [r["stopped"] for r in rows if isinstance(r.get("stopped"), str)]
    if stopped:
        return stopped[-1]
    return "finished" if read_finished(run_dir) is not None else "incomplete"


def summarize(run_dir: Path, *, group: str, diff: list[str], seed: int | None,
              last: int = 5, entry: dict[str, Any] | None = None) -> RunSummary:
    rows = read_metrics(run_dir / "metrics.jsonl")
    train_rows = [r for r in rows if "loss" in r]
    metrics: dict[str, float] = {}
    for key in {k for r in train_rows for k, v in r.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)} - {"step", "epoch"}:
        value = _mean_last(train_rows, key, last)
        if value is not None:
            metrics[key] = value
    speeds = [float(r["images_per_s"]) for r in train_rows if "images_per_s" in r]
    if speeds:
        metrics["images_per_s"] = statistics.median(speeds)
    evaluated, within_noise = _protocol_metrics(run_dir, rows)
    metrics.update(evaluated)
    finished = read_finished(run_dir)
    if finished is not None and "wall_s" in finished:
        metrics["wall_s"] = float(finished["wall_s"])
    return RunSummary(
        run_dir=run_dir, group=group, diff=diff, seed=seed,
        steps=max((int(r.get("step", 0)) for r in rows), default=0), metrics=metrics,
        curve=[(int(r["step"]), float(r["loss"])) for r in train_rows],
        resumed=bool(finished and finished.get("resumed_from_step")),
        within_noise=within_noise, status=run_status(run_dir, rows, entry),
    )


def collect(paths: list[Path], *, last: int = 5) -> list[Group]:
    """Summaries of every run under ``paths``, grouped over seeds, in the order given."""
    runs = expand(paths)
    several_sweeps = len({d.parent for d, e in runs if e is not None}) > 1
    base = flat_recipe(runs[0][0])
    groups: dict[tuple[str, ...], Group] = {}
    for run_dir, entry in runs:
        recipe = flat_recipe(run_dir)
        seed = recipe.get("run.seed")
        if entry is not None:
            diff = [o for o in entry.get("overrides", [])
                    if o.partition("=")[0] not in SEED_KEYS]
            name = str(entry.get("group", entry.get("name")))
            if several_sweeps:
                name = f"{run_dir.parent.name}/{name}"
            key: tuple[str, ...] = ("sweep", str(run_dir.parent), name)
        else:
            diff = recipe_diff(recipe, base)
            name = _SEED_SUFFIX.sub("", run_dir.name)
            key = ("runs", *diff)
        summary = summarize(run_dir, group=name, diff=diff,
                            seed=seed if isinstance(seed, int) else None, last=last, entry=entry)
        groups.setdefault(key, Group(name, diff, [])).runs.append(summary)
    return list(groups.values())


def resolve_metrics(groups: list[Group], wanted: list[str] | None) -> list[str]:
    """The metric keys to show: ``wanted`` (aliases allowed), else every built-in present."""
    present = {k for g in groups for r in g.runs for k in r.metrics}
    if not wanted:
        return [k for k in columns() if k in present]
    short = aliases()
    keys = []
    for name in wanted:
        key = short.get(name, name)
        if key not in present:
            known = ", ".join(sorted(present | {a for a, k in short.items() if k in present}))
            raise UserError(f"--metric {name}: no run has it; available: {known}")
        keys.append(key)
    return keys
