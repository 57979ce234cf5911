"""The lever study: each candidate speed-up measured against what jepa-kit does today.

Step-level levers (fused attention, bf16 autocast, fused AdamW, no host sync, torch.compile,
thread count) run whole train steps, A and B interleaved step by step so that load from other
processes hits both alike; the table gives medians and B's change against A. Component levers
(AdamW variants, EMA variants, token gathers, the host sync) are timed alone at the shapes of
ViT-S/16 at 224 px with a depth-12 predictor. Not part of ``run.py``'s default set: run it with
``python benchmarks/run.py --levers`` or ``python benchmarks/bench_levers.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
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
from common import Result, keep_freed_memory, loadavg, median, script_main, settle, timed

from jepa_kit.ops.masks import apply_masks, gather_tokens, repeat_batch


# -- whole steps -------------------------------------------------------------------------------
def set_attention(step: TrainStep, fused: bool, upcast: bool) -> None:
    """Fused (SDPA) or explicit softmax attention; fp32 SDPA under CPU bf16 autocast or not."""
    for module in (step.encoder, step.target_encoder, step.predictor):
        for sub in module.modules():
            if hasattr(sub, "fused_attn"):
                sub.fused_attn = fused
                sub.upcast_on_cpu = upcast


@dataclass(frozen=True)
class Variant:
    """A way to run the step: how to build it and what to set before each of its steps."""

    make: Callable[[], TrainStep]
    threads: int | None = None


def ab_steps(cfg: StepConfig, variants: dict[str, Variant], repeats: int
             ) -> list[dict[str, Any]]:
    """Interleaved timing of the variants' steps on the same masks; the first is A."""
    recipe = recipe_for(cfg)
    steps = {name: v.make() for name, v in variants.items()}
    first = next(iter(steps.values()))
    images = random_images(recipe.img_size, cfg.batch)
    masks = sample_masks(recipe, first.encoder.grid, cfg.batch, repeats)
    flops = [count_flops(first, images, m) for m in masks]
    default_threads = torch.get_num_threads()
    warm: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in steps}
    busy = settle()
    load = loadavg()
    try:
        for name, step in steps.items():  # warm-up (and compile) each variant once
            torch.set_num_threads(variants[name].threads or default_threads)
            tic = time.perf_counter()
            step(images, masks[0])
            warm[name] = time.perf_counter() - tic
        for m in masks:
            for name, step in steps.items():
                torch.set_num_threads(variants[name].threads or default_threads)
                tic = time.perf_counter()
                step(images, m)
                times[name].append(time.perf_counter() - tic)
    finally:
        torch.set_num_threads(default_threads)
    return _rows(cfg, times, flops, warm, load, busy)


def _rows(cfg: StepConfig, times: dict[str, list[float]], flops: list[int],
          warm: dict[str, float], load: float, busy: float) -> list[dict[str, Any]]:
    base = next(iter(times.values()))
    rows = []
    for name, ts in times.items():
        t = median(ts)
        # Paired per mask batch: batches differ in work far more than the variants do.
        paired = median([a / b for a, b in zip(base, ts, strict=True)])
        rows.append({
            "lever": name, "config": cfg.label, "ms": t * 1e3, "images_per_s": cfg.batch / t,
            "gflops": median([f / x / 1e9 for f, x in zip(flops, ts, strict=True)]),
            "change": paired - 1, "first_step_s": warm.get(name, float("nan")),
            "loadavg": load, "busy_cores": busy, "times_s": ts,
        })
    return rows


def malloc_lever(cfg: StepConfig, repeats: int, rounds: int = 2) -> list[dict[str, Any]]:
    """glibc keeping freed memory (``keep_freed_memory``) vs its defaults.

    The setting is process-wide and glibc stops adapting its mmap threshold once it is touched,
    so each variant runs in fresh processes, alternating A B A B.
    """
    times: dict[str, list[float]] = {"malloc defaults (today)": [], "keep freed memory": []}
    busy = settle()
    load = loadavg()
    for _ in range(rounds):
        for name, flag in (("malloc defaults (today)", "off"), ("keep freed memory", "on")):
            proc = subprocess.run([sys.executable, __file__, "--malloc-child", flag,
                                   json.dumps(asdict(cfg)), str(repeats)],
                                  capture_output=True, text=True, check=True)
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            times[name] += out["times"]
            flops = out["flops"]
    return _rows(cfg, times, flops * rounds, {}, load, busy)


def malloc_child(flag: str, cfg: StepConfig, repeats: int) -> dict[str, Any]:
    if flag == "on":
        keep_freed_memory()
    recipe = recipe_for(cfg)
    step = TrainStep(recipe)
    images = random_images(recipe.img_size, cfg.batch)
    masks = sample_masks(recipe, step.encoder.grid, cfg.batch, repeats)
    step(images, masks[0])
    times = []
    for m in masks:
        tic = time.perf_counter()
        step(images, m)
        times.append(time.perf_counter() - tic)
    return {"times": times, "flops": [count_flops(step, images, m) for m in masks]}


def step_levers(cfg: StepConfig, repeats: int, compile_too: bool) -> list[dict[str, Any]]:
    bf16 = replace(cfg, precision="bf16")
    rows: list[dict[str, Any]] = []

    def make(c: StepConfig, levers: Levers = Levers(), fused_attn: bool = True,
             upcast: bool = True, threads: int | None = None) -> Variant:
        def build() -> TrainStep:
            step = TrainStep(recipe_for(c), levers)
            set_attention(step, fused_attn, upcast)
            return step
        return Variant(build, threads)

    rows += ab_steps(cfg, {"fp32 (today)": make(cfg), "fp32 unfused attention":
                           make(cfg, fused_attn=False), "bf16 autocast": make(bf16)}, repeats)
    rows += ab_steps(bf16, {"bf16 SDPA in bf16": make(bf16, upcast=False),
                            "bf16 SDPA upcast to fp32 (now)": make(bf16)}, repeats)
    rows += ab_steps(cfg, {"fp32 fused AdamW (today)": make(cfg),
                           "fp32 foreach AdamW": make(cfg, Levers(fused_adamw=False)),
                           "fp32 no float(loss)": make(cfg, Levers(no_host_sync=True))}, repeats)
    rows += ab_steps(cfg, {"fp32 2 threads (today)": make(cfg),
                           "fp32 1 thread": make(cfg, threads=1)}, repeats)
    rows += malloc_lever(cfg, repeats)
    if compile_too:
        for c in (cfg, bf16):
            rows += ab_steps(c, {f"{c.precision} eager (today)": make(c),
                                 f"{c.precision} torch.compile": make(c, Levers(compile=True))},
                             repeats)
    return rows


# -- components at ViT-S/16 224 px, predictor depth 12 -----------------------------------------
def _modules() -> TrainStep:
    return TrainStep(recipe_for(StepConfig("small", 224, 16, 12)))


def adamw_levers(step: TrainStep, repeats: int) -> list[dict[str, Any]]:
    params = [p for m in (step.encoder, step.predictor) for p in m.parameters()]
    count = sum(p.numel() for p in params)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    rows = []
    base = None
    for name, kwargs in (("fused=True (today)", {"fused": True}),
                         ("foreach", {"foreach": True}),
                         ("for-loop", {"foreach": False})):
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05, **kwargs)
        t = median(timed(opt.step, repeats=repeats, warmup=2))
        base = base or t
        rows.append({"lever": f"AdamW {name}", "config": f"{count / 1e6:.1f}M params",
                     "ms": t * 1e3, "change": base / t - 1})
    for p in params:
        p.grad = None
    return rows


def ema_levers(step: TrainStep, repeats: int) -> list[dict[str, Any]]:
    online = [p.detach() for p in step.encoder.parameters()]
    target = list(step.target_encoder.parameters())
    m = 0.996

    def foreach_lerp() -> None:
        torch._foreach_lerp_(target, online, 1.0 - m)

    def foreach_mul_add() -> None:
        torch._foreach_mul_(target, m)
        torch._foreach_add_(target, online, alpha=1.0 - m)

    def loop() -> None:
        for t, o in zip(target, online, strict=True):
            t.mul_(m).add_(o, alpha=1.0 - m)

    rows = []
    base = None
    with torch.no_grad():
        for name, fn in (("_foreach_lerp_ (today)", foreach_lerp),
                         ("_foreach_mul_ + _foreach_add_", foreach_mul_add),
                         ("per-tensor mul_/add_", loop)):
            t = median(timed(fn, repeats=repeats, warmup=2))
            base = base or t
            rows.append({"lever": f"EMA {name}", "config": "ViT-S encoder", "ms": t * 1e3,
                         "change": base / t - 1})
    return rows


def host_sync_lever(repeats: int) -> list[dict[str, Any]]:
    loss = (torch.randn(64, 29, 384) ** 2).mean()
    t = median(timed(lambda: math.isfinite(float(loss)), repeats=repeats * 100, warmup=10))
    return [{"lever": "float(loss) NaN guard", "config": "CPU scalar", "ms": t * 1e3,
             "change": float("nan")}]


def gather_levers(repeats: int) -> list[dict[str, Any]]:
    """Token selection forward+backward: gather vs advanced indexing vs a boolean mask."""
    g = torch.Generator().manual_seed(0)
    b, n, d, k, m = 16, 196, 384, 100, 4
    x = torch.randn(b, n, d, generator=g, requires_grad=True)
    idx = torch.stack([torch.randperm(n, generator=g)[:k].sort().values for _ in range(b)])
    tidx = torch.stack([torch.stack([torch.randperm(n, generator=g)[:30].sort().values
                                     for _ in range(b)]) for _ in range(m)])
    keep = torch.zeros(b, n, dtype=torch.bool).scatter_(1, idx, True)
    rows_ = torch.arange(b).view(b, 1)

    def fwd_bwd(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def go() -> None:
            fn().sum().backward()
            x.grad = None
        return go

    cases = [
        ("context: torch.gather (today)", lambda: gather_tokens(x, idx)),
        ("context: advanced indexing", lambda: x[rows_, idx]),
        ("context: boolean mask", lambda: x[keep].view(b, k, d)),
        ("targets: advanced indexing (today)", lambda: apply_masks(x, tidx)),
        ("targets: gather on tiled x", lambda: torch.gather(
            x.repeat(m, 1, 1), 1, tidx.reshape(m * b, -1, 1).expand(-1, -1, d))),
    ]
    rows = []
    for name, fn in cases:
        t = median(timed(fwd_bwd(fn), repeats=repeats * 5, warmup=3))
        rows.append({"lever": f"select {name}", "config": f"B{b} N{n} D{d}", "ms": t * 1e3,
                     "change": float("nan")})
    return rows


def interleaved(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each case, the cases alternating call by call (load hits all alike)."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            tic = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - tic)
    return {name: median(ts) for name, ts in times.items()}


def target_levers(repeats: int, cfg: StepConfig | None = None) -> list[dict[str, Any]]:
    """The target side of the step and the predictor's context projection, exact variants.

    * ``torch.inference_mode`` instead of ``no_grad`` for the target encoder (inference tensors
      cannot be saved for the loss's backward, so the gathered targets are cloned out);
    * layer-norm of the gathered targets (M x Kt tokens) instead of all N tokens before the
      gather (the norm is per token, so exact; the collapse monitors still need all N);
    * the predictor's input Linear once on the context, then tiled per block (today), against
      tiling first (M times the Linear's work, forward and backward).
    """
    cfg = cfg or StepConfig("small", 224, 16, 12)
    step = TrainStep(recipe_for(cfg))
    images = random_images(cfg.img, cfg.batch)
    masks = sample_masks(recipe_for(cfg), step.encoder.grid, cfg.batch, 1)[0]
    enc, tidx = step.target_encoder, masks.targets
    d = enc.embed_dim

    def no_grad_norm_gather() -> torch.Tensor:
        with torch.no_grad():
            return apply_masks(torch.nn.functional.layer_norm(enc(images), (d,)), tidx)

    def inference_norm_gather() -> torch.Tensor:
        with torch.inference_mode():
            out = apply_masks(torch.nn.functional.layer_norm(enc(images), (d,)), tidx)
        return out.clone()

    def no_grad_gather_norm() -> torch.Tensor:
        with torch.no_grad():
            return torch.nn.functional.layer_norm(apply_masks(enc(images), tidx), (d,))

    assert torch.allclose(no_grad_norm_gather(), no_grad_gather_norm(), atol=1e-6)
    assert torch.equal(no_grad_norm_gather(), inference_norm_gather())
    target = interleaved({"no_grad, norm then gather (today)": no_grad_norm_gather,
                          "inference_mode, norm then gather": inference_norm_gather,
                          "no_grad, gather then norm": no_grad_gather_norm}, repeats)

    pred = step.predictor
    context = torch.randn(cfg.batch, masks.context.shape[1], d, requires_grad=True)
    m = tidx.shape[0]

    def project_then_tile() -> None:
        repeat_batch(pred.predictor_embed(context), m).sum().backward()

    def tile_then_project() -> None:
        pred.predictor_embed(repeat_batch(context, m)).sum().backward()

    proj = interleaved({"predictor: project context once, then tile (today)": project_then_tile,
                        "predictor: tile, then project": tile_then_project}, repeats)
    rows = []
    for group, config in ((target, f"{cfg.label} target side"),
                          (proj, f"{cfg.label} predictor_embed fwd+bwd")):
        base = next(iter(group.values()))
        rows += [{"lever": name, "config": config, "ms": t * 1e3, "change": base / t - 1}
                 for name, t in group.items()]
    return rows


def run(quick: bool = False) -> Result:
    """A/B of each performance lever against today's defaults."""
    cfg = StepConfig("tiny", 64, 8, 6) if quick else StepConfig("small", 224, 16, 12)
    rows = step_levers(cfg, repeats=3, compile_too=not quick)
    components = _modules()
    rows += adamw_levers(components, repeats=5)
    rows += ema_levers(components, repeats=10)
    rows += host_sync_lever(repeats=10)
    rows += gather_levers(repeats=10)
    rows += target_levers(repeats=10)
    del components
    return Result("levers", ["lever", "config", "ms", "images_per_s", "gflops", "change",
                             "first_step_s", "busy_cores"], rows,
                  notes=["change = speed-up of the row against the first row of its group "
                         "(positive is faster); first_step_s includes torch.compile"])


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--malloc-child":
        cfg = StepConfig(**json.loads(sys.argv[3]))
        print(json.dumps(malloc_child(sys.argv[2], cfg, int(sys.argv[4]))))
        raise SystemExit(0)
    raise SystemExit(script_main(run))
