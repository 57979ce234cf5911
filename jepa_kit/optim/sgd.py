"""SGD with momentum: an ``optimizer`` component for ablations against AdamW.

Weight decay is L2 added to the gradient (torch's ``SGD``), moved per step by the engine's
weight-decay schedule in the decayed groups only, like AdamW's.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from jepa_kit.optim.base import Optimizer, OptimizerConfig


class SGD(Optimizer):
    """``torch.optim.SGD`` over the method's parameter groups."""

    class Config(OptimizerConfig):
        kind: Literal["sgd"] = "sgd"
        momentum: float = Field(0.9, ge=0, lt=1, description="Momentum (0: plain SGD).")
        dampening: float = Field(0.0, ge=0, le=1, description="Dampening of the momentum.")
        nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0 and "
                               "dampening 0).")

        @model_validator(mode="after")
        def _nesterov(self) -> SGD.Config:
            if self.nesterov and (self.momentum == 0 or self.dampening != 0):
                raise ValueError(f"nesterov=true needs momentum > 0 and dampening = 0, got "
                                 f"momentum={self.momentum}, dampening={self.dampening}")
            return self

    config: Config

    def build(self, param_groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.SGD(param_groups, lr=0.0, weight_decay=0.0, momentum=c.momentum,
                               dampening=c.dampening, nesterov=c.nesterov)
