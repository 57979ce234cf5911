"""Run the benchmarks, print their tables, write JSON, and optionally compare to the baseline.

    python benchmarks/run.py                    # everything (several minutes on 2 cores)
    python benchmarks/run.py --quick            # the reduced matrix (a few minutes)
    python benchmarks/run.py --only masker      # one benchmark (repeat --only for more)
    python benchmarks/run.py --quick --check    # exit 1 if > 20 % worse than baseline.json
    python benchmarks/run.py --levers           # the lever A/B study (long; not in "all")

``--check`` compares only on the machine class the baseline was measured on (CPU model and
core count); elsewhere it prints a note and passes. ``--update-baseline`` rewrites
``benchmarks/baseline.json`` from this run (do it on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_data
import bench_levers
import bench_masker
import bench_memory
import bench_step
import gpu_estimate
from common import (
    QUIET_WAIT,
    Result,
    add_shared_args,
    loadavg,
    machine,
    machine_class,
    print_table,
    write_json,
)

BENCHMARKS: dict[str, Callable[..., Result]] = {
    "masker": bench_masker.run,
    "step": bench_step.run,
    "data": bench_data.run,
    "memory": bench_memory.run,
    "gpu_estimate": gpu_estimate.run,
}
BASELINE = Path(__file__).resolve().parent / "baseline.json"
#: A tracked metric may be this much worse than the baseline before --check fails.
TOLERANCE = 0.20


def compare(metrics: dict[str, dict[str, Any]], baseline: dict[str, Any]) -> tuple[list[str],
                                                                                 list[str]]:
    """(regressions, notes) of this run's metrics against the baseline's."""
    here = machine_class(machine())
    # Recomputed from the recorded machine, so a baseline keeps matching when the rule changes.
    there = (machine_class(baseline["machine"]) if "machine" in baseline
             else baseline.get("machine_class", "?"))
    if here != there:
        return [], [f"baseline was measured on {there!r}, this is {here!r}: not compared"]
    regressions, notes = [], []
    for key, new in metrics.items():
        old = baseline["metrics"].get(key)
        if old is None:
            notes.append(f"{key}: not in the baseline")
            continue
        a, b = float(old["value"]), float(new["value"])
        ratio = b / a if a else float("inf")
        worse = ratio < 1 - TOLERANCE if new["higher_is_better"] else ratio > 1 + TOLERANCE
        if worse:
            regressions.append(f"{key}: {b:.4g} vs baseline {a:.4g} ({ratio - 1:+.0%})")
    return regressions, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_args(parser)
    parser.add_argument("--only", action="append", choices=[*BENCHMARKS, "levers"],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--levers", action="store_true", help="also run the lever study")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when a tracked metric is > {TOLERANCE * 100:.0f}%% worse "
                        "than the baseline on the same machine class")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--update-baseline", action="store_true",
                        help="write this run's metrics as the baseline")
    args = parser.parse_args(argv)
    QUIET_WAIT["seconds"] = args.wait

    names = args.only or list(BENCHMARKS)
    if args.levers and "levers" not in names:
        names.append("levers")
    runners = {**BENCHMARKS, "levers": bench_levers.run}
    info = machine()
    print(f"{info['cpu_model']}, {info['cores']} cores, torch {info['torch']} "
          f"({info['torch_threads']} threads), load average {loadavg():.2f}")

    metrics: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    summary: dict[str, Any] = {"machine": info, "machine_class": machine_class(info),
                               "quick": args.quick,
                               "loadavg_start": loadavg(), "tables": {}}
    for name in names:
        tic = time.perf_counter()
        result = runners[name](quick=args.quick)
        print_table(result)
        print(f"  {name}: {time.perf_counter() - tic:.0f} s, wrote {write_json(result, args.out)}")
        failures += result.failures
        metrics.update({k: {"value": m.value, "higher_is_better": m.higher_is_better}
                        for k, m in result.metrics.items()})
        summary["tables"][name] = result.rows
    summary["loadavg_end"] = loadavg()
    summary["metrics"] = metrics
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    if args.update_baseline:
        old = json.loads(args.baseline.read_text()) if args.baseline.exists() else {}
        old_class = (machine_class(old["machine"]) if "machine" in old
                     else old.get("machine_class"))
        if old_class == summary["machine_class"]:
            metrics = {**old.get("metrics", {}), **metrics}  # --quick keeps the full set
        baseline = {k: summary[k] for k in ("machine", "machine_class", "loadavg_start",
                                            "loadavg_end")}
        baseline["measured"] = time.strftime("%Y-%m-%d")
        baseline["metrics"] = dict(sorted(metrics.items()))
        args.baseline.write_text(json.dumps(baseline, indent=2) + "\n")
        print(f"wrote {args.baseline}")
    if args.check:
        if not args.baseline.exists():
            print(f"--check: no baseline at {args.baseline}")
            return 1
        regressions, notes = compare(metrics, json.loads(args.baseline.read_text()))
        for note in notes:
            print(f"  check: {note}")
        for line in regressions:
            print(f"  REGRESSION {line}")
        failures += regressions
        if not regressions:
            print(f"  check: no tracked metric more than {TOLERANCE:.0%} worse than the baseline")
    for line in failures:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
