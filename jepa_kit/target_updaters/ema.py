"""Exponential moving average of the online encoder, with a linear momentum ramp.

The target encoder's weights follow ``target <- m * target + (1 - m) * online`` after every
optimizer step, with ``m`` rising linearly from ``momentum_start`` to ``momentum_end`` over the
schedule (paper Sec. 5: 0.996 -> 1.0). Step k uses ``start + (k - 1)(end - start) / T``, with the
reference's un-truncated T = iterations per epoch x epochs x ipe_scale.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from jepa_kit.target_updaters.base import TargetUpdater, TargetUpdaterConfig


class EMATargetUpdater(TargetUpdater):
    """EMA with a linear momentum ramp, one fused ``_foreach_lerp_`` over all tensors."""

    class Config(TargetUpdaterConfig):
        kind: Literal["ema"] = "ema"
        momentum_start: float = Field(0.996, ge=0, le=1, description="Momentum at step 1.")
        momentum_end: float = Field(1.0, ge=0, le=1, description="Momentum the ramp heads to.")

        @model_validator(mode="after")
        def _ordered(self) -> EMATargetUpdater.Config:
            if self.momentum_end < self.momentum_start:
                raise ValueError(
                    f"target_updater.momentum_end={self.momentum_end} is below "
                    f"target_updater.momentum_start={self.momentum_start}"
                )
            return self

    def __init__(self, config: Config, *, total_steps: float) -> None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.config = config
        self.total_steps = float(total_steps)

    def value(self, step: int) -> float:
        c = self.config
        delta = c.momentum_end - c.momentum_start
        return c.momentum_start + (step - 1) * delta / self.total_steps  # reference op order

    @torch.no_grad()
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        m = self.value(step)
        online_params = [p.detach() for p in online.parameters()]
        target_params = list(target.parameters())
        if len(online_params) != len(target_params):
            raise ValueError("online and target encoders have different parameter lists")
        # lerp_(t, o, w) = t + w (o - t) = m t + (1 - m) o with w = 1 - m.
        torch._foreach_lerp_(target_params, online_params, 1.0 - m)
