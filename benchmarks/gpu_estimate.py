"""ESTIMATES (not measurements) of I-JEPA training speed on GPUs, from counted FLOPs.

No GPU is needed: the FLOPs of one forward+backward of the I-JEPA step (context encoder,
predictor, target encoder forward, loss) are counted with ``FlopCounterMode`` on meta-device
models at 224 px with the reference masks, per image. The estimate is

    images/s = peak bf16 FLOP/s x MFU / (FLOPs per image)

for an assumed MFU range. FLOPs are the matmul + attention FLOPs (what MFU conventionally
counts); the optimizer, EMA and elementwise work are in the MFU, not in the FLOPs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from bench_step import StepConfig, recipe_for
from common import Result, script_main
from torch.utils.flop_counter import FlopCounterMode

from jepa_kit.build import build_loss, build_masker, build_method
from jepa_kit.methods.ijepa import ijepa_forward

#: Dense bf16 tensor-core peaks from the vendors' data sheets (no sparsity).
GPU_PEAK_TFLOPS = {"A100 SXM": 312.0, "H100 SXM": 989.0}


@dataclass(frozen=True)
class Model:
    name: str
    size: str
    patch: int
    pred_depth: int
    mfu: tuple[float, float]  # assumed range


#: Predictor depth as the paper's recipes (ViT-B/16: 6, ViT-H/14: 12; width 384). The MFU
#: ranges are assumptions: bf16 + SDPA (flash) ViTs usually reach 35-50 % on these GPUs; the
#: narrow 384-wide predictor with short sequences lowers ViT-B's.
MODELS = [Model("ViT-B/16", "base", 16, 6, (0.30, 0.45)),
          Model("ViT-H/14", "huge", 14, 12, (0.35, 0.50))]


def flops_per_image(model: Model, batch: int = 8, samples: int = 4) -> tuple[float, float, float]:
    """(FLOPs per image, mean context length, mean target length) at 224 px."""
    recipe = recipe_for(StepConfig(model.size, 224, model.patch, model.pred_depth, batch=batch))
    with torch.device("meta"):
        m = build_method(recipe).networks  # shapes only: ViT-H's 632M parameters cost nothing
    loss_fn = build_loss(recipe.loss)
    masker = build_masker(recipe.masker, grid=m["encoder"].grid)
    images = torch.empty(batch, 3, 224, 224, device="meta")
    total, kc, kt = 0.0, 0.0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(samples):
            masks = masker.sample(batch, step, torch.Generator().manual_seed(1000 + step))
            kc += masks.context.shape[1] / samples
            kt += masks.targets.shape[2] / samples
            with FlopCounterMode(display=False) as counter:
                out = ijepa_forward(m["encoder"], m["predictor"], m["target_encoder"], loss_fn,
                                    images, masks.to("meta"))
                out.loss.backward()
            total += counter.get_total_flops() / batch / samples
    return total, kc, kt


def run(quick: bool = False) -> Result:
    """GPU images/s and MFU ESTIMATES for ViT-B/16 and ViT-H/14 at 224 px (bf16 + SDPA)."""
    rows: list[dict[str, Any]] = []
    for model in MODELS:
        fpi, kc, kt = flops_per_image(model, samples=2 if quick else 4)
        for gpu, peak in GPU_PEAK_TFLOPS.items():
            lo, hi = model.mfu
            rows.append({
                "model": f"{model.name} pred{model.pred_depth}", "gpu": gpu,
                "context_len": kc, "target_len": kt, "gflop_per_image": fpi / 1e9,
                "peak_tflops": peak, "mfu_assumed": f"{lo:.0%}-{hi:.0%}",
                "images_per_s_low": peak * 1e12 * lo / fpi,
                "images_per_s_high": peak * 1e12 * hi / fpi,
            })
    result = Result("gpu_estimate", ["model", "gpu", "context_len", "target_len",
                                     "gflop_per_image", "peak_tflops", "mfu_assumed",
                                     "images_per_s_low", "images_per_s_high"], rows)
    result.notes.append("ESTIMATES, not measurements: images/s = peak bf16 x assumed MFU / "
                        "counted FLOPs per image (forward+backward of the I-JEPA step)")
    return result


if __name__ == "__main__":
    raise SystemExit(script_main(run))
