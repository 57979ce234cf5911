"""GPU check: bf16 I-JEPA train steps at ViT-B/16 and ViT-H/14, and the quickstart on CUDA.

One table, in under 8 minutes on one H100/H200-class GPU:

* the train step of ``bench_step.TrainStep`` (what ``Trainer`` does per step on a GPU: no
  per-step host sync, fused AdamW, EMA) at 224 px in bf16, for the models and predictor depths
  of ``gpu_estimate.MODELS``, with ``torch.compile`` off and on: images/s, achieved TFLOP/s,
  MFU against the GPU's dense bf16 peak (next to ``gpu_estimate``'s assumed range), warm-up
  (compile) seconds and peak memory (``torch.cuda.max_memory_allocated``);
* ``recipes/quickstart.toml`` for 200 steps through ``jepa_kit.train.trainer.train``: wall
  time, final loss, peak memory;
* FSDP on one GPU where jepa-kit's recipes take ``distributed.strategy = "fsdp"``; otherwise a
  row saying it is not available (nothing is measured in its place).

FLOPs are those of the timed mask batches, counted by ``bench_step.count_flops`` on meta
copies of the models (matmuls + attention, forward + backward; what MFU conventionally
counts). Each check gets a share of ``--budget`` seconds (the time left flows to later
checks) and is stopped by SIGALRM at its share, so a slow compile costs one row, not the run.

    python benchmarks/gpu_check.py                     # on a GPU, ~5-7 min
    python benchmarks/gpu_check.py --peak-tflops 756   # a GPU not in PEAK_BF16_TFLOPS
    python benchmarks/gpu_check.py --dry-run           # the same path on the CPU, tiny models
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from bench_step import (
    Levers,
    StepConfig,
    TrainStep,
    count_flops,
    random_images,
    recipe_for,
    sample_masks,
)
from common import DEFAULT_OUT, REPO, Result, print_table
from gpu_estimate import MODELS

from jepa_kit.errors import UserError
from jepa_kit.recipe import load_recipe
from jepa_kit.train.compile import compile_network

QUICKSTART = REPO / "recipes" / "quickstart.toml"

#: Dense bf16 tensor-core peaks in TFLOP/s from the vendors' data sheets (no sparsity), matched
#: in order against ``torch.cuda.get_device_name()`` (e.g. "NVIDIA H100 80GB HBM3" is the SXM
#: part; the PCIe and NVL parts say so in their names).
PEAK_BF16_TFLOPS: list[tuple[str, float]] = [
    (r"\bGH200\b", 989.0),
    (r"\bH200\b", 989.0),
    (r"\bH100\b.*\bPCIe\b", 756.0),
    (r"\bH100\b.*\bNVL\b", 835.0),
    (r"\bH100\b", 989.0),  # SXM
    (r"\bA100\b", 312.0),
    (r"\bL40S\b", 362.0),
    (r"\bL4\b", 121.0),
    (r"\bA10\b", 125.0),
]

COLUMNS = ["check", "compile", "status", "warmup_s", "steps", "ms_per_step", "images_per_s",
           "gflop_per_image", "tflops", "mfu", "mfu_assumed", "peak_mem_gib", "wall_s",
           "final_loss"]


# -- arithmetic (pure, tested on the CPU) -------------------------------------------------------
def peak_tflops(device_name: str, override: float | None = None) -> float | None:
    """Dense bf16 peak of ``device_name`` (``override`` wins); None when the name is unknown."""
    if override is not None:
        return override
    return next((tf for pattern, tf in PEAK_BF16_TFLOPS if re.search(pattern, device_name)),
                None)


def images_per_s(batch: int, steps: int, seconds: float) -> float:
    return batch * steps / seconds


def achieved_tflops(flops_per_batch: Sequence[float], steps: int, seconds: float) -> float:
    """TFLOP/s of ``steps`` steps cycling through mask batches of the given FLOPs."""
    total = sum(flops_per_batch[i % len(flops_per_batch)] for i in range(steps))
    return total / seconds / 1e12


def mfu(tflops: float, peak: float | None) -> float:
    """Model FLOPs utilisation: achieved / peak (nan without a peak)."""
    return tflops / peak if peak else math.nan


def budget_share(remaining_s: float, weights: Sequence[float]) -> float:
    """Seconds for the first of the checks left, weighted; time a check leaves flows on."""
    return remaining_s * weights[0] / sum(weights)


def timed_steps(seconds: float, step_s: float, cycle: int, lo: int, hi: int) -> int:
    """Steps that fit ``seconds`` at ``step_s`` each, within [lo, hi], a multiple of ``cycle``
    (every mask batch timed equally often), at least one cycle."""
    n = min(max(int(seconds / step_s), lo), hi) if step_s > 0 else hi
    return max(n // cycle, 1) * cycle


def quickstart_epochs(steps: int, dataset_size: int, batch: int) -> int:
    """Epochs that hold ``steps`` optimizer steps (one process, full batches only)."""
    return math.ceil(steps / (dataset_size // batch))


def json_path(out: Path) -> Path:
    """``--out`` names the JSON file itself when it ends in .json, else its folder."""
    return out if out.suffix == ".json" else out / "gpu_check.json"


# -- plumbing ----------------------------------------------------------------------------------
class CheckTimeout(BaseException):
    """A check ran past its share of the budget.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that torch.compile's ``except
    Exception`` handlers cannot take it for a graph break and carry on compiling.
    """


def find_cause(exc: BaseException, types: tuple[type[BaseException], ...]
               ) -> BaseException | None:
    """``exc`` or the first exception it was raised from (or during) of one of ``types``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, types):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``CheckTimeout`` in the main thread after ``seconds`` (SIGALRM; elsewhere no limit)."""
    if seconds <= 0:
        raise CheckTimeout("no time left in the budget")
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or not hasattr(signal, "setitimer"):  # signals reach the main thread only
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CheckTimeout(f"stopped at its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    tic = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # an enclosing alarm (pytest-timeout's, say) still goes off
            left = max(outer - (time.monotonic() - tic), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def peak_memory_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else math.nan


@dataclass(frozen=True)
class Options:
    device: torch.device
    peak: float | None
    timed_s: float  # seconds of timed steps per step check
    cycle: int  # distinct mask batches per step check
    compile_backend: str
    quickstart_steps: int
    quickstart_set: tuple[str, ...] = ()  # recipe overrides (--dry-run: a smaller batch)


#: How a step check compiles: not at all; ``train.compile`` (torch's default dynamic shapes
#: after the second shape); ``train.compile`` with ``method.length_bucket = BUCKET`` (one static
#: graph per bucket pair); and the same with CUDA graphs over each static shape
#: (``mode="reduce-overhead"``, CUDA only: a step that does not capture gets its error as status).
COMPILE_MODES = ("off", "dynamic", "buckets", "buckets+cudagraphs")
#: The fixed-shape bucket of the compiled checks: 9 shapes at 224/16 for +9 % tokens.
BUCKET = 8


@dataclass(frozen=True)
class StepCheck:
    name: str
    cfg: StepConfig
    compile: str  # one of COMPILE_MODES
    weight: float  # share of the budget
    mfu_assumed: str = ""


def compile_modes(device: torch.device) -> tuple[str, ...]:
    """The compile modes that run on ``device`` (CUDA graphs need CUDA)."""
    return COMPILE_MODES if device.type == "cuda" else COMPILE_MODES[:3]


def check_config(cfg: StepConfig, mode: str) -> StepConfig:
    """``cfg`` with the length bucket the compile mode pads to."""
    return replace(cfg, length_bucket=BUCKET if mode.startswith("buckets") else 0)


def compile_step(step: TrainStep, mode: str, backend: str) -> None:
    """Compile the step's trained networks as ``train.compile`` does, in compile ``mode``."""
    if mode == "off":
        return
    static = step.recipe.method.length_bucket > 0
    graphs = "reduce-overhead" if mode.endswith("cudagraphs") else None
    step.train_encoder = compile_network(step.encoder, static=static, backend=backend,
                                         mode=graphs)
    step.train_predictor = compile_network(step.predictor, static=static, backend=backend,
                                           mode=graphs)


def step_checks(device: torch.device, batch: int) -> list[StepCheck]:
    """Eager first (cheap, always measured), then compiled; ViT-B before ViT-H."""
    if device.type == "cpu":  # the path, not the numbers: the quickstart's tiny ViT in fp32
        cfg = StepConfig("quickstart", 32, 4, 2, "fp32", batch=batch)  # (CPU bf16 is slow)
        return [StepCheck(cfg.label, check_config(cfg, c), c, 1.0) for c in compile_modes(device)]
    checks = []
    for mode in compile_modes(device):
        for m in MODELS:
            cfg = StepConfig(m.size, 224, m.patch, m.pred_depth, "bf16", batch=batch)
            weight = (1.0 if m.size == "base" else 1.5) * (1.0 if mode == "off" else 2.0)
            lo, hi = m.mfu
            checks.append(StepCheck(f"{m.name} pred{m.pred_depth} bf16 b{batch}",
                                    check_config(cfg, mode), mode, weight, f"{lo:.0%}-{hi:.0%}"))
    return checks


def run_steps(step: TrainStep, images: torch.Tensor, masks: Sequence[Any], n: int,
              device: torch.device, graphs: bool = False) -> float:
    sync(device)
    tic = time.perf_counter()
    for i in range(n):
        if graphs:  # a new training iteration: CUDA-graph outputs of the last one may be reused
            torch.compiler.cudagraph_mark_step_begin()
        step(images, masks[i % len(masks)])
    sync(device)
    return time.perf_counter() - tic


def measure_step(check: StepCheck, opts: Options, limit_s: float,
                 flops_cache: dict[str, list[float]]) -> dict[str, Any]:
    """Build the step on the device, warm it up (compiling), then time whole mask cycles."""
    start = time.perf_counter()
    device, cfg = opts.device, check.cfg
    recipe = recipe_for(cfg)
    levers = Levers(no_host_sync=device.type == "cuda")  # the trainer checks the loss when logging
    with torch.device(device):  # init on the device: ViT-H's 632M parameters are slow on a CPU
        step = TrainStep(recipe, levers)
    masks = sample_masks(recipe, step.encoder.grid, cfg.batch, opts.cycle)
    images = random_images(recipe.img_size, cfg.batch).to(device)
    if cfg.label not in flops_cache:
        flops_cache[cfg.label] = [float(count_flops(step, images, m)) for m in masks]
    flops = flops_cache[cfg.label]
    compile_step(step, check.compile, opts.compile_backend)
    masks = [m.to(device) for m in masks]
    reset_memory(device)

    graphs = check.compile.endswith("cudagraphs")
    warmup_s = run_steps(step, images, masks, opts.cycle, device, graphs)  # compiles
    pilot_s = run_steps(step, images, masks, opts.cycle, device, graphs) / opts.cycle
    left = limit_s - (time.perf_counter() - start) - 2 * pilot_s
    n = timed_steps(min(opts.timed_s, left), pilot_s, opts.cycle, lo=opts.cycle, hi=200)
    seconds = run_steps(step, images, masks, n, device, graphs)
    tflops = achieved_tflops(flops, n, seconds)
    return {
        "status": "ok", "warmup_s": warmup_s, "steps": n, "ms_per_step": seconds / n * 1e3,
        "images_per_s": images_per_s(cfg.batch, n, seconds),
        "gflop_per_image": sum(flops) / len(flops) / cfg.batch / 1e9,
        "tflops": tflops, "mfu": mfu(tflops, opts.peak), "peak_mem_gib": peak_memory_gib(device),
    }


def run_quickstart(opts: Options) -> dict[str, Any]:
    """``recipes/quickstart.toml`` for ``quickstart_steps`` steps through ``train``."""
    from jepa_kit.train.trainer import train

    base = load_recipe(QUICKSTART)
    steps, batch = opts.quickstart_steps, base.train.batch_size
    epochs = quickstart_epochs(steps, base.data.train_size, batch)
    recipe = load_recipe(QUICKSTART, [f"train.max_steps={steps}", f"train.epochs={epochs}",
                                      *opts.quickstart_set])
    batch = recipe.train.batch_size
    reset_memory(opts.device)
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        result = train(recipe, output_dir=Path(tmp) / "quickstart", device=opts.device.type,
                       quiet=True)
        wall = time.perf_counter() - tic
    return {"status": "ok", "steps": result.step, "wall_s": wall,
            "images_per_s": images_per_s(batch, result.step, wall),
            "final_loss": result.losses[-1] if result.losses else math.nan,
            "peak_mem_gib": peak_memory_gib(opts.device)}


def fsdp_available() -> bool:
    """Whether this jepa-kit's recipes take ``distributed.strategy = "fsdp"``."""
    try:
        recipe = load_recipe(QUICKSTART, ['distributed.strategy="fsdp"'])
    except UserError:
        return False
    return getattr(getattr(recipe, "distributed", None), "strategy", None) == "fsdp"


def guarded(row: dict[str, Any], limit_s: float, fn: Any, *args: Any) -> dict[str, Any]:
    """Run one check within ``limit_s``; a timeout or an OOM is its row's status, not a crash
    (also when torch.compile wrapped it in an error of its own)."""
    try:
        with time_limit(limit_s):
            row.update(fn(*args))
    except (CheckTimeout, Exception) as exc:
        cause = find_cause(exc, (CheckTimeout, torch.OutOfMemoryError))
        if cause is None:
            raise
        row["status"] = (f"timeout: {cause}" if isinstance(cause, CheckTimeout)
                         else "out of memory")
    finally:
        if row.get("compile") not in (None, "off") and "torch._dynamo" in sys.modules:
            torch._dynamo.reset()  # frees the compiled graphs
    return row


def run(opts: Options, *, budget_s: float, batch: int) -> Result:
    """Every check in turn, each within its share of ``budget_s``."""
    start = time.perf_counter()
    checks = step_checks(opts.device, batch)
    # The quickstart (None) after the eager steps: what a user runs first outranks compiling.
    plan = [*(c for c in checks if c.compile == "off"), None,
            *(c for c in checks if c.compile != "off")]
    weights = [c.weight if c else 1.5 for c in plan]
    rows: list[dict[str, Any]] = []
    flops_cache: dict[str, list[float]] = {}
    failures: list[str] = []
    for i, check in enumerate(plan):
        limit = budget_share(budget_s - (time.perf_counter() - start), weights[i:])
        if check is None:
            row: dict[str, Any] = {"check": f"quickstart {opts.quickstart_steps} steps",
                                   "compile": "off"}
            fn, args = run_quickstart, (opts,)
        else:
            row = {"check": check.name, "compile": check.compile, "mfu_assumed": check.mfu_assumed}
            fn, args = measure_step, (check, opts, limit, flops_cache)
        try:
            rows.append(guarded(row, limit, fn, *args))
        except Exception as exc:  # a broken check fails the run; the others still run
            rows.append({**row, "status": f"error: {type(exc).__name__}"})
            failures.append(f"{row['check']}: {type(exc).__name__}: {exc}")
        reset_memory(opts.device)
    rows.append({"check": "fsdp (1 GPU)", "status": "available in jepa-kit, not measured here"
                 if fsdp_available() else "fsdp: not available in this jepa-kit"})
    name = device_name(opts.device)
    elapsed = time.perf_counter() - start
    result = Result("gpu_check", COLUMNS, rows, failures=failures, extra={
        "device_name": name, "peak_bf16_tflops": opts.peak, "budget_s": budget_s,
        "elapsed_s": elapsed, "compile_backend": opts.compile_backend,
        "quickstart_set": list(opts.quickstart_set)})
    peak = f"{opts.peak:.0f} TFLOP/s" if opts.peak else "unknown (pass --peak-tflops for MFU)"
    result.notes.append(f"{name}: dense bf16 peak {peak}; torch {torch.__version__}; "
                        f"{elapsed:.0f} s of a {budget_s:.0f} s budget")
    if opts.device.type == "cuda":
        result.notes.append("mfu_assumed: gpu_estimate.py's assumed range, for comparison")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cpu: the quickstart's tiny ViT instead of ViT-B/H (checks the path)")
    parser.add_argument("--quick", action="store_true",
                        help="~2 s of timed steps per check, a 20-step quickstart")
    parser.add_argument("--dry-run", action="store_true",
                        help="--device cpu --quick, one mask batch, 4 quickstart steps of batch 8, "
                        "compile backend eager: the whole script in seconds (what CI runs)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="dense bf16 peak of the GPU (default: looked up by device name)")
    parser.add_argument("--budget", type=float, default=420.0, metavar="S",
                        help="seconds for all checks together (default 420: under 8 min with "
                        "start-up)")
    parser.add_argument("--batch", type=int, default=128,
                        help="images per step (default 128: the paper's 2048 over 16 GPUs)")
    parser.add_argument("--quickstart-steps", type=int, default=None,
                        help="steps of the quickstart run (default 200; --quick 20)")
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend (default inductor; --dry-run eager)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON file (*.json) or folder for gpu_check.json")
    args = parser.parse_args(argv)
    quick = args.quick or args.dry_run
    device = torch.device("cpu" if args.dry_run else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU found (torch.cuda.is_available() is False); nothing "
              "measured. --dry-run runs the script's path on the CPU.")
        return 0
    if args.dry_run:
        batch, qs_steps = min(args.batch, 8), args.quickstart_steps or 4
    else:
        batch, qs_steps = args.batch, args.quickstart_steps or (20 if quick else 200)
    opts = Options(device=device, peak=peak_tflops(device_name(device), args.peak_tflops),
                   timed_s=0.5 if args.dry_run else 2.0 if quick else 10.0,
                   cycle=1 if args.dry_run else 3,
                   compile_backend=args.compile_backend or ("eager" if args.dry_run else
                                                            "inductor"),
                   quickstart_steps=qs_steps,
                   quickstart_set=("train.batch_size=8", "data.num_workers=0") if args.dry_run
                   else ())
    result = run(opts, budget_s=args.budget, batch=batch)
    print_table(result)
    path = json_path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    print(f"  wrote {path}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
