"""The bf16 levers on a CPU with native bf16: each against today's bf16 step, interleaved.

At the shapes of ``bench_reference.py`` (reference masks, ``predictor.targets = "per_block"``),
bf16 autocast, each variant's step on the same mask batches in turn (``bench_levers.ab_steps``:
one warm-up step each, then the batches; ``change`` is the paired speed-up over today):

* SDPA in bf16 instead of the CPU upcast to fp32 (``Attention.upcast_on_cpu``);
* the target encoder under ``torch.inference_mode`` instead of ``no_grad`` (its output cloned
  out, as inference tensors cannot be saved for the loss's backward);
* with ``--compile``: ``train.compile`` with ``method.length_bucket = 8`` (one static graph per
  bucket pair), the target encoder compiled too; its first step (compilation) is in
  ``first_step_s``, and inductor's on-disk cache makes a second run of the same shapes cheaper.

    python benchmarks/bench_bf16_levers.py                    # ViT-T/8 64, predictor 384 x 6
    python benchmarks/bench_bf16_levers.py --config small --compile
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from bench_levers import Variant, ab_steps, set_attention
from bench_reference import CONFIGS
from bench_step import Levers, StepConfig, TrainStep, recipe_for
from common import QUIET_WAIT, Result, add_shared_args, print_table, write_json
from torch import nn

SIZES = {"tiny": CONFIGS[0], "small": CONFIGS[1]}


class InferenceModeTarget(nn.Module):
    """The target encoder's forward under ``torch.inference_mode``, its output cloned into an
    ordinary tensor (exact: the same kernels, no autograd bookkeeping)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.net(images)
        return out.clone()


def variants(cfg: StepConfig, compile_too: bool) -> dict[str, Variant]:
    def make(c: StepConfig, levers: Levers = Levers(), upcast: bool = True,
             inference: bool = False) -> Variant:
        def build() -> TrainStep:
            step = TrainStep(recipe_for(c), levers)
            set_attention(step, True, upcast)
            if inference:
                step.run_target = InferenceModeTarget(step.target_encoder)
            return step
        return Variant(build)

    out = {"bf16 today (SDPA upcast, no_grad target)": make(cfg),
           "bf16 SDPA in bf16": make(cfg, upcast=False),
           "bf16 target under inference_mode": make(cfg, inference=True)}
    if compile_too:
        out["bf16 train.compile, length_bucket 8, target compiled"] = make(
            replace(cfg, length_bucket=8), Levers(compile=True, compile_target=True))
    return out


def run(size: str, repeats: int, compile_too: bool) -> Result:
    cfg = replace(SIZES[size], precision="bf16")
    rows: list[dict[str, Any]] = ab_steps(cfg, variants(cfg, compile_too), repeats)
    return Result("bf16_levers", ["lever", "config", "ms", "change", "first_step_s",
                                  "busy_cores"], rows,
                  notes=["change = paired speed-up over the first row (positive is faster)"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shared_args(parser)
    parser.add_argument("--config", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--repeats", type=int, default=4, help="mask batches timed (default 4)")
    parser.add_argument("--compile", action="store_true", help="add the compiled variant")
    args = parser.parse_args(argv)
    QUIET_WAIT["seconds"] = args.wait
    result = run(args.config, 2 if args.quick else args.repeats, args.compile)
    print_table(result)
    print(f"  wrote {write_json(result, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
