"""``jepa-kit run``'s step against the bare train step at the same shapes, fp32 and bf16.

The run side is the real command line: a recipe file of the benchmark's model (the shapes of
``bench_reference.CONFIGS``, synthetic images, reference masks) run by ``jepa-kit run`` with
``train.log_every = 1``, its step times read from ``metrics.jsonl`` (``step_time_s``: from
asking the loader for a batch to the end of the optimizer step and EMA, data loading
included). The step side is ``bench_step.TrainStep`` in a fresh process, fed masks of exactly
the lengths the run logged (``context_len``, ``target_len``) in the same order, so both sides
compute the same shapes step for step. Both skip the same first steps (each new shape costs
oneDNN kernel generation once). Sides alternate in fresh processes round by round, so load
from elsewhere hits both alike; the table gives each side's median and ``step / run`` (1.00:
the run costs what the step does; the target is >= 0.97).

    python benchmarks/bench_run_vs_step.py                     # ViT-T/8 64, fp32 (+ bf16)
    python benchmarks/bench_run_vs_step.py --config small --steps 8 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from bench_reference import CONFIGS
from bench_step import StepConfig, TrainStep, random_images, recipe_dict, recipe_for
from common import (
    QUIET_WAIT,
    Result,
    add_precision_arg,
    add_shared_args,
    loadavg,
    median,
    precisions,
    print_table,
    settle,
    write_json,
)

from jepa_kit.maskers.base import Masks

SIZES = {"tiny": CONFIGS[0], "small": CONFIGS[1]}
COLUMNS = ["config", "run_ms", "step_ms", "step_over_run", "data_wait_ms", "steps", "rounds",
           "loadavg", "busy_cores"]


def run_recipe(cfg: StepConfig, steps: int) -> dict[str, Any]:
    """The recipe file's content: the benchmark's model, logged every step, no mid-run
    checkpoint (the last step's save comes after its timing)."""
    data = recipe_dict(cfg)
    data["run"] = {"name": "run_vs_step", "seed": 0}
    data["data"]["train_size"] = cfg.batch * (steps + 2)
    data["train"].update(max_steps=steps, epochs=10, log_every=1, checkpoint_every=10 * steps)
    return data


def write_toml(data: dict[str, Any], path: Path) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(data))
    return path


def read_steps(metrics: Path) -> list[dict[str, Any]]:
    """Rows of ``metrics.jsonl`` that are train steps (they carry ``step_time_s``)."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return [r for r in rows if "step_time_s" in r]


def time_run(cfg: StepConfig, steps: int, workdir: Path) -> list[dict[str, Any]]:
    """``jepa-kit run`` of the config for ``steps`` steps; its logged step rows."""
    recipe = write_toml(run_recipe(cfg, steps), workdir / "recipe.toml")
    out = workdir / "run"
    shutil.rmtree(out, ignore_errors=True)
    cli = Path(sys.executable).with_name("jepa-kit")
    cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "jepa_kit"]
    proc = subprocess.run([*cmd, "run", str(recipe), "-o", str(out), "-q"],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"jepa-kit run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return read_steps(out / "metrics.jsonl")


def masks_of(shapes: Sequence[tuple[int, int]], batch: int, grid: int,
             num_targets: int = 4) -> list[Masks]:
    """Masks of the given (context, target) lengths, random distinct indices per row: the
    step's cost depends on the lengths only."""
    g = torch.Generator().manual_seed(0)
    out = []
    for kc, kt in shapes:
        context = torch.stack([torch.randperm(grid, generator=g)[:kc].sort().values
                               for _ in range(batch)])
        targets = torch.stack([torch.stack([torch.randperm(grid, generator=g)[:kt].sort().values
                                            for _ in range(batch)])
                               for _ in range(num_targets)])
        out.append(Masks(context, targets))
    return out


def time_step(cfg: StepConfig, shapes: Sequence[tuple[int, int]]) -> list[float]:
    """Seconds of each ``TrainStep`` over masks of ``shapes``, in order (this process)."""
    recipe = recipe_for(cfg)
    step = TrainStep(recipe)
    images = random_images(cfg.img, cfg.batch)
    import time

    times = []
    for masks in masks_of(shapes, cfg.batch, (cfg.img // cfg.patch) ** 2):
        tic = time.perf_counter()
        step(images, masks)
        times.append(time.perf_counter() - tic)
    return times


def time_step_in_subprocess(cfg: StepConfig, shapes: Sequence[tuple[int, int]]) -> list[float]:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(asdict(cfg)),
                           json.dumps(list(shapes))], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"step child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(cfg: StepConfig, steps: int, rounds: int, skip: int) -> dict[str, Any]:
    """Median run step and bare step over ``rounds`` alternating rounds, first ``skip`` steps of
    each side left out."""
    run_ms: list[float] = []
    step_ms: list[float] = []
    waits: list[float] = []
    with tempfile.TemporaryDirectory(prefix="run_vs_step_") as tmp:
        # The run's seed is fixed, so every run logs the same mask lengths: the step side can
        # go first from the second round on.
        shapes: list[tuple[int, int]] = []
        for r in range(rounds):
            times: list[float] = []
            if r % 2 and shapes:
                times = time_step_in_subprocess(cfg, shapes)
            rows = time_run(cfg, steps, Path(tmp))
            shapes = [(int(x["context_len"]), int(x["target_len"])) for x in rows]
            if not times:
                times = time_step_in_subprocess(cfg, shapes)
            run_ms += [1e3 * x["step_time_s"] for x in rows[skip:]]
            waits += [1e3 * x["data_wait_s"] for x in rows[skip:]]
            step_ms += [1e3 * t for t in times[skip:]]
    run_med, step_med = median(run_ms), median(step_ms)
    return {"config": cfg.label.replace(" reference", ""), "run_ms": run_med,
            "step_ms": step_med, "step_over_run": step_med / run_med,
            "data_wait_ms": median(waits), "steps": len(run_ms), "rounds": rounds}


def run(sizes: Sequence[str] = ("tiny",), kinds: Sequence[str] = ("fp32", "bf16"),
        steps: int = 20, rounds: int = 2, skip: int = 3) -> Result:
    """``jepa-kit run``'s median step against ``TrainStep``'s at the same shapes."""
    rows = []
    for size in sizes:
        for precision in kinds:
            cfg = replace(SIZES[size], precision=precision)
            busy, load = settle(), loadavg()
            row = compare(cfg, steps, rounds, skip)
            rows.append({**row, "loadavg": load, "busy_cores": busy})
            print(f"  {row['config']}: run {row['run_ms']:,.0f} ms, step {row['step_ms']:,.0f} ms"
                  f" ({row['step_over_run']:.3f})", flush=True)
    result = Result("run_vs_step", COLUMNS, rows)
    result.notes.append(f"{steps} steps per side per round, first {skip} skipped; step_over_run "
                        "= bare step median / run step median (1.00: the run costs no more)")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shared_args(parser)
    add_precision_arg(parser)
    parser.add_argument("--config", default="tiny",
                        help="comma-separated: tiny (ViT-T/8 64, pred 384x6), small (ViT-S/16 "
                        "224, pred 384x12)")
    parser.add_argument("--steps", type=int, default=20, help="steps per side per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--skip", type=int, default=3, help="first steps left out per side")
    args = parser.parse_args(argv)
    sizes = args.config.split(",")
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"--config: unknown {', '.join(unknown)} (expected tiny, small)")
    if args.skip >= args.steps:
        parser.error(f"--skip {args.skip} leaves no step of --steps {args.steps}")
    QUIET_WAIT["seconds"] = args.wait
    if args.quick:  # one short round
        args.steps, args.rounds, args.skip = min(args.steps, 8), 1, min(args.skip, 2)
    result = run(sizes, precisions(args.precision), args.steps, args.rounds, args.skip)
    print_table(result)
    print(f"  wrote {write_json(result, args.out)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        config = StepConfig(**json.loads(sys.argv[2]))
        shapes = [tuple(s) for s in json.loads(sys.argv[3])]
        print(json.dumps(time_step(config, shapes)))  # type: ignore[arg-type]
        raise SystemExit(0)
    raise SystemExit(main())
