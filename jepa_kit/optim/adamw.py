"""AdamW with the reference's parameter groups and per-step lr / weight-decay schedules."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from jepa_kit.optim.schedules import ScheduleLengths, learning_rate, weight_decay


def decays(name: str, param: torch.Tensor) -> bool:
    """Weight decay applies to every tensor but biases and 1-D tensors (LayerNorm weights).

    As in the reference, positional tables and the mask token count as decayed.
    """
    return "bias" not in name and param.ndim != 1


def param_groups(modules: Sequence[nn.Module]) -> list[dict]:
    """Decayed groups of each module first, then the excluded ones: the reference's order."""
    decayed, excluded = [], []
    for module in modules:
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        decayed.append({"params": [p for n, p in named if decays(n, p)]})
        excluded.append(
            {"params": [p for n, p in named if not decays(n, p)], "WD_exclude": True,
             "weight_decay": 0.0}
        )
    return [g for g in decayed + excluded if g["params"]]


def build_adamw(
    modules: Sequence[nn.Module], *, betas: tuple[float, float], eps: float, fused: bool | None
) -> torch.optim.AdamW:
    """AdamW over the modules' trainable parameters; lr and wd are set by ``OptimSchedule``."""
    return torch.optim.AdamW(
        param_groups(modules), lr=0.0, weight_decay=0.0, betas=betas, eps=eps,
        foreach=None if fused else True, fused=fused or None,
    )


class OptimSchedule:
    """Writes the step's lr into every group and the step's wd into the decayed groups."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, lengths: ScheduleLengths, *, start_lr: float,
        lr: float, final_lr: float, wd: float, final_wd: float,
    ) -> None:
        self.optimizer = optimizer
        self.lengths = lengths
        self.start_lr, self.peak_lr, self.final_lr = start_lr, lr, final_lr
        self.wd, self.final_wd = wd, final_wd

    def values(self, step: int) -> tuple[float, float]:
        n = self.lengths
        return (
            learning_rate(step, n, self.start_lr, self.peak_lr, self.final_lr),
            weight_decay(step, n, self.wd, self.final_wd),
        )

    def apply(self, step: int) -> tuple[float, float]:
        """Set the values optimizer step ``step`` (1-based) runs with; returns (lr, wd)."""
        lr, wd = self.values(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if not group.get("WD_exclude", False):
                group["weight_decay"] = wd
        return lr, wd
