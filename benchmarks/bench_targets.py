"""predictor.targets: ms per train step of per_block (the paper's), joint and isolated.

The trainer's step (``bench_step.TrainStep``) at ViT-T/8 64 px (predictor 384 x 6) and ViT-S/16
224 px (predictor 384 x 12), batch 16, reference masks, fp32 and bf16. The three modes of one
precision run interleaved on the same mask batches (``bench_reference.interleave``); the table
gives each mode's median and ``per_block / mode`` (above 1: faster than the paper's form).
What the single-pass modes cost in accuracy is recipes/ablations/predictor_targets.toml.

    python benchmarks/bench_targets.py [--quick] [--small-only] [--rounds 3] [--precision auto]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from bench_reference import CONFIGS, interleave, jepa_kit_variant, ratio_rows
from bench_step import random_images, recipe_for, sample_masks
from common import (
    QUIET_WAIT,
    Metric,
    Result,
    add_precision_arg,
    add_shared_args,
    loadavg,
    precisions,
    print_table,
    settle,
    write_json,
)

MODES = ("per_block", "joint", "isolated")
COLUMNS = ["config", "variant", "ms_per_step", "vs_per_block", "steps", "spread", "loadavg",
           "busy_cores"]


def run(quick: bool = False, rounds: int = 3, kinds: Sequence[str] = ("fp32", "bf16"),
        small_only: bool = False) -> Result:
    """Each predictor.targets mode's step time, interleaved per precision."""
    rows: list[dict[str, Any]] = []
    configs = CONFIGS[:1] if quick else CONFIGS[1:] if small_only else CONFIGS
    for base in configs:
        images = random_images(base.img, base.batch)
        grid = (base.img // base.patch,) * 2
        batches = sample_masks(recipe_for(base), grid, base.batch, 2 if base.img >= 224 else 3)
        for precision in kinds:
            variants = {mode: jepa_kit_variant(replace(base, precision=precision, targets=mode),
                                               images) for mode in MODES}
            busy, load = settle(), loadavg()
            times = interleave(variants, batches, rounds)
            label = replace(base, precision=precision).label.replace(" reference", "")
            for row in ratio_rows(label, times, "per_block", column="vs_per_block"):
                rows.append({**row, "loadavg": load, "busy_cores": busy})
                print(f"  {label} | {row['variant']} | {row['ms_per_step']:,.0f} ms | "
                      f"{row['vs_per_block']:.2f}x", flush=True)
            del variants
    result = Result("targets", COLUMNS, rows)
    result.notes.append(f"threads {torch.get_num_threads()}; {rounds} interleaved rounds; "
                        "vs_per_block = per_block median / mode median (above 1: faster)")
    for r in rows:
        result.metrics[f"targets/{r['config']} {r['variant']}/ms_per_step"] = Metric(
            r["ms_per_step"], higher_is_better=False)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shared_args(parser)
    add_precision_arg(parser)
    parser.add_argument("--small-only", action="store_true", help="only ViT-S/16 at 224")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args(argv)
    QUIET_WAIT["seconds"] = args.wait
    result = run(args.quick, args.rounds, precisions(args.precision), args.small_only)
    print_table(result)
    print(f"  wrote {write_json(result, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
