"""AdamW's update kernels: fused vs foreach vs for_loop, the optimizer step alone.

Each kernel steps its own copy of the same trained parameters (an I-JEPA encoder + predictor
built from a recipe, their parameter groups from ``Method.param_groups``) with the same
gradients, interleaved round by round (the order alternates) so load from elsewhere hits all
alike. The rows give the median ms per step and the largest weight difference from the fused
kernel after every step taken: the kernels agree to rounding, not bit for bit, which is why
``adamw``'s ``implementation`` is a recipe option and ``auto`` keeps one kernel per device.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from common import Result, loadavg, script_main

from jepa_kit.build import build_method
from jepa_kit.optim.adamw import AdamW
from jepa_kit.optim.stepper import set_values
from jepa_kit.recipe import validate_recipe

KERNELS = ("fused", "foreach", "for_loop")
COLUMNS = ["config", "params_m", "fused_ms", "foreach_ms", "for_loop_ms", "max_diff",
           "loadavg"]


def _method(size: str, img: int, patch: int, depth: int) -> Any:
    recipe = validate_recipe({
        "method": {"kind": "ijepa"}, "data": {"kind": "synthetic", "img_size": img},
        "masker": {"kind": "multiblock", "min_keep": 4},
        "encoder": {"kind": "vit", "size": size, "patch_size": patch},
        "predictor": {"kind": "vit_predictor", "embed_dim": 384, "depth": depth}})
    torch.manual_seed(0)
    return build_method(recipe)


def measure(size: str, img: int, patch: int, depth: int, rounds: int) -> dict[str, Any]:
    opts: dict[str, tuple[torch.optim.Optimizer, list[torch.Tensor]]] = {}
    grads: list[torch.Tensor] = []
    for kernel in KERNELS:
        groups = _method(size, img, patch, depth).param_groups()
        params = [p for g in groups for p in g["params"]]
        if not grads:
            gen = torch.Generator().manual_seed(1)
            grads = [torch.randn(p.shape, generator=gen) * 1e-3 for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opt = AdamW(AdamW.Config(implementation=kernel)).build(groups)
        set_values(opt, 1e-3, 0.04)
        opt.step()  # warm: allocates the state
        opts[kernel] = (opt, params)
    times: dict[str, list[float]] = {k: [] for k in KERNELS}
    for r in range(rounds):
        for kernel in KERNELS if r % 2 == 0 else KERNELS[::-1]:
            opt = opts[kernel][0]
            for _ in range(3):
                tic = time.perf_counter()
                opt.step()
                times[kernel].append(time.perf_counter() - tic)
    flat = {k: torch.cat([p.detach().flatten() for p in ps]) for k, (_, ps) in opts.items()}
    return {
        "config": f"ViT-{size[0].upper()}/{patch} {img} px, predictor 384 x {depth}",
        "params_m": sum(p.numel() for p in opts["fused"][1]) / 1e6,
        **{f"{k}_ms": 1e3 * statistics.median(times[k]) for k in KERNELS},
        "max_diff": max(float((flat[k] - flat["fused"]).abs().max()) for k in KERNELS),
        "loadavg": loadavg(),
    }


def run(quick: bool = False) -> Result:
    """AdamW step: fused vs foreach vs for_loop kernels (ms per step, interleaved)."""
    shapes = [("tiny", 64, 8, 6)] + ([] if quick else [("small", 224, 16, 12)])
    rows = [measure(*shape, rounds=3 if quick else 7) for shape in shapes]
    result = Result("optimizer", COLUMNS, rows)
    result.notes.append(f"threads {torch.get_num_threads()}; auto = fused on CPU and CUDA")
    result.track("config", "fused_ms", higher_is_better=False)
    return result


if __name__ == "__main__":
    raise SystemExit(script_main(run))
