"""Exponential moving average of the online encoder, with a linear momentum ramp.

The target encoder's weights follow ``target <- m * target + (1 - m) * online`` after every
optimizer step, with ``m`` rising linearly from ``momentum_start`` to ``momentum_end`` over the
schedule (paper Sec. 5: 0.996 -> 1.0). Step k uses ``start + (k - 1)(end - start) / T``, with the
reference's un-truncated T = iterations per epoch x epochs x ipe_scale.

The paper's pair suits its 300-epoch runs; a run of a few hundred steps ends with a teacher
that is still mostly its random initialisation (0.996 averages over ~250 steps). A horizon
sets the start from the run's length instead: ``horizon_steps = H`` or ``horizon_fraction = f``
(H = f x T) replaces ``momentum_start`` by ``1 - 1 / H``, the momentum of an average over about H
steps, and the ramp to ``momentum_end`` follows as before. ``retained(n)`` is the share of the
initial weights the teacher still holds after n steps (the product of the momenta).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import math
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
        horizon_steps: int = Field(
            0, ge=0, le=10**9, description="Replaces momentum_start when > 0: average over "
            "about this many steps (momentum at step 1 = 1 - 1 / horizon_steps); 0: off.")
        horizon_fraction: float = Field(
            0.0, ge=0, le=1, description="Replaces momentum_start when > 0: average over about "
            "this fraction of the schedule's steps (e.g. 0.1 for a short run); 0: off.")

        @model_validator(mode="after")
        def _ordered(self) -> EMATargetUpdater.Config:
            if self.horizon_steps and self.horizon_fraction:
                raise ValueError("target_updater: set horizon_steps or horizon_fraction, not "
                                 "both; each fixes the momentum at step 1")
            if self.horizon_steps or self.horizon_fraction:
                return self  # the start depends on the run's length: checked when built
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
        horizon = config.horizon_steps or (
            config.horizon_fraction * self.total_steps if config.horizon_fraction else None)
        self.start = config.momentum_start if horizon is None else max(0.0, 1.0 - 1.0 / horizon)
        if config.momentum_end < self.start:
            raise ValueError(f"target_updater.momentum_end={config.momentum_end} is below the "
                             f"horizon's starting momentum {self.start:.6f}")

    def value(self, step: int) -> float:
        delta = self.config.momentum_end - self.start
        return self.start + (step - 1) * delta / self.total_steps  # reference op order

    def retained(self, steps: int) -> float:
        """The share of its initial weights the target still holds after ``steps`` updates."""
        logs = [math.log(m) if m > 0 else -math.inf
                for m in (self.value(k) for k in range(1, steps + 1))]
        return math.exp(math.fsum(logs)) if logs else 1.0

    @torch.no_grad()
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        m = self.value(step)
        online_params = [p.detach() for p in online.parameters()]
        target_params = list(target.parameters())
        if len(online_params) != len(target_params):
            raise ValueError("online and target encoders have different parameter lists")
        # lerp_(t, o, w) = t + w (o - t) = m t + (1 - m) o with w = 1 - m.
        torch._foreach_lerp_(target_params, online_params, 1.0 - m)
