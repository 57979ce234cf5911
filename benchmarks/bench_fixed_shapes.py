"""method.length_bucket: how many shapes the networks see, and what padding costs and saves.

Three measurements of the fixed-shape path (``jepa_kit.methods.ijepa``, padding to buckets):

1. **shapes**: over 200 mask batches of the reference masker, the distinct (context, target)
   lengths the encoder and predictor see, unpadded and per bucket size, and the share of extra
   tokens padding adds (its compute cost in an eager step). No compute; both configs.
2. **eager**: ms per trainer step, unpadded vs padded, interleaved on the same masks (ViT-T/8
   at 64 px): what padding costs where nothing is compiled.
3. **compile**: ``torch.compile(dynamic=False)`` (what ``fullgraph`` graphs and CUDA graphs
   need: one graph per shape) of the quickstart's encoder and predictor over 12 mask batches:
   graphs compiled, the wall time of those 12 steps including compilation, and the median ms of
   a second pass over the same batches. ``--backend aot_eager`` (default, seconds) counts graphs;
   ``--backend inductor`` also generates kernels (minutes on 2 cores).

    python benchmarks/bench_fixed_shapes.py [--quick] [--backend aot_eager|inductor]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from bench_reference import CONFIGS, interleave
from bench_step import Levers, StepConfig, TrainStep, random_images, recipe_for, sample_masks
from common import (
    QUIET_WAIT,
    Result,
    add_shared_args,
    loadavg,
    median,
    print_table,
    settle,
    write_json,
)

from jepa_kit.ops.masks import bucket_length

BUCKETS = (8, 16, 32)
COLUMNS = ["measure", "config", "variant", "value", "unit", "note"]


def shape_rows(count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for base in CONFIGS:
        recipe = recipe_for(base)
        grid = (base.img // base.patch,) * 2
        n = grid[0] * grid[1]
        batches = sample_masks(recipe, grid, base.batch, count)
        lengths = [(m.context.shape[1], m.targets.shape[2]) for m in batches]
        real = sum(kc + m.num_targets * kt for (kc, kt), m in zip(lengths, batches, strict=True))
        rows.append({"measure": "shapes", "config": base.label, "variant": "unpadded",
                     "value": len(set(lengths)), "unit": f"shapes / {count} batches",
                     "note": f"context {min(k for k, _ in lengths)}-{max(k for k, _ in lengths)}"
                     f", target {min(k for _, k in lengths)}-{max(k for _, k in lengths)} tokens"})
        for bucket in BUCKETS:
            padded = [(bucket_length(kc, bucket, n), bucket_length(kt, bucket, n))
                      for kc, kt in lengths]
            extra = sum(lc + m.num_targets * lt for (lc, lt), m in
                        zip(padded, batches, strict=True)) / real - 1
            rows.append({"measure": "shapes", "config": base.label, "variant": f"pad{bucket}",
                         "value": len(set(padded)), "unit": f"shapes / {count} batches",
                         "note": f"+{extra:.0%} tokens"})
    return rows


def eager_rows(rounds: int) -> list[dict[str, Any]]:
    base = CONFIGS[0]
    images = random_images(base.img, base.batch)
    grid = (base.img // base.patch,) * 2
    batches = sample_masks(recipe_for(base), grid, base.batch, 4)
    variants = {}
    for bucket in (0, 16):
        step = TrainStep(recipe_for(replace(base, length_bucket=bucket)))
        variants["unpadded" if not bucket else f"pad{bucket}"] = (
            lambda m, s=step: s(images, m))
    busy, load = settle(), loadavg()
    times = interleave(variants, batches, rounds)
    ref = median(times["unpadded"])
    return [{"measure": "eager ms/step", "config": base.label, "variant": name,
             "value": median(ts) * 1e3, "unit": "ms",
             "note": f"unpadded / this {ref / median(ts):.2f}x; load {load:.1f}, busy {busy:.1f}"}
            for name, ts in times.items()]


def compile_rows(backend: str, count: int) -> list[dict[str, Any]]:
    import torch._dynamo

    rows: list[dict[str, Any]] = []
    base = StepConfig("quickstart", 32, 4, 2, batch=64, masker_mode="reference")
    images = random_images(base.img, base.batch)
    grid = (base.img // base.patch,) * 2
    batches = sample_masks(recipe_for(base), grid, base.batch, count)
    for bucket in (0, 16):
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        # Eight graphs per function would be the default; the count is what is measured here.
        torch._dynamo.config.cache_size_limit = 64
        step = TrainStep(recipe_for(replace(base, length_bucket=bucket)), Levers())
        step.train_encoder = torch.compile(step.encoder, dynamic=False, fullgraph=True,
                                           backend=backend)
        step.train_predictor = torch.compile(step.predictor, dynamic=False, fullgraph=True,
                                             backend=backend)
        tic = time.perf_counter()
        for m in batches:
            step(images, m)
        first = time.perf_counter() - tic
        graphs = int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
        again = []
        for m in batches:
            t0 = time.perf_counter()
            step(images, m)
            again.append(time.perf_counter() - t0)
        name = "unpadded" if not bucket else f"pad{bucket}"
        label = f"{base.label} compile[{backend}, dynamic=False, fullgraph]"
        rows += [
            {"measure": "graphs compiled", "config": label, "variant": name, "value": graphs,
             "unit": f"graphs / {count} steps", "note": "encoder + predictor forward graphs"},
            {"measure": "first pass", "config": label, "variant": name, "value": first,
             "unit": f"s / {count} steps", "note": "compilation included"},
            {"measure": "second pass", "config": label, "variant": name,
             "value": median(again) * 1e3, "unit": "ms/step (median)", "note": "compiled"},
        ]
        print(f"  {label} | {name} | {graphs} graphs | first pass {first:.1f} s | "
              f"then {median(again) * 1e3:.0f} ms/step", flush=True)
    return rows


def run(quick: bool = False, backend: str = "aot_eager", rounds: int = 3) -> Result:
    """Shapes seen, eager cost and compile savings of ``method.length_bucket``."""
    rows = shape_rows(50 if quick else 200)
    rows += eager_rows(1 if quick else rounds)
    rows += compile_rows(backend, 6 if quick else 12)
    result = Result("fixed_shapes", COLUMNS, rows)
    result.notes.append(f"threads {torch.get_num_threads()}; reference masker; padding repeats "
                        "the last index and masks it out of attention and the loss")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shared_args(parser)
    parser.add_argument("--backend", default="aot_eager",
                        help="torch.compile backend of the compile measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved eager rounds")
    args = parser.parse_args(argv)
    QUIET_WAIT["seconds"] = args.wait
    result = run(args.quick, args.backend, args.rounds)
    print_table(result)
    print(f"  wrote {write_json(result, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
