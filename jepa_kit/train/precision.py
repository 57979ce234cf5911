"""Set a run's numeric precision up for its device: a warning where bf16 would be emulated (much
slower than fp32 there), and TF32 tensor cores for fp32 matmuls on CUDA as the recipe asks."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from jepa_kit.train import cpu_bf16


def configure_precision(device: torch.device, train: Any, *, is_main: bool) -> None:
    """Apply ``train.precision`` / ``train.tf32`` (a recipe's ``[train]``) to ``device``."""
    if device.type == "cpu" and train.precision == "bf16" and is_main and \
            cpu_bf16.emulated_bf16():
        warnings.warn("train.precision=bf16 on a CPU without native bf16 matmuls (no "
                      "avx512_bf16 or amx_bf16 flag): they are emulated and much slower "
                      "than fp32 here; use --set train.precision=fp32", stacklevel=3)
    if device.type == "cuda":
        # TF32 tensor cores for fp32 matmuls; an fp32 run otherwise leaves most idle.
        torch.backends.cuda.matmul.allow_tf32 = train.tf32
        torch.backends.cudnn.allow_tf32 = train.tf32
