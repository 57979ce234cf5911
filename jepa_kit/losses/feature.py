"""Distances in feature space between predicted and target patch representations.

I-JEPA's objective is the average L2 distance between predicted and target patch
representations (paper Eq. 1); the reference code trains with a smooth-L1 distance instead. Both
normalise the target encoder's output with a parameter-free layer norm first, as the reference
does (``F.layer_norm`` over the feature dim, default eps 1e-5): ``NormalizedTargetsLoss``.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from jepa_kit.losses.base import NormalizedTargetsConfig, NormalizedTargetsLoss


class L2Loss(NormalizedTargetsLoss):
    """Mean squared error over every element (the paper's objective; the default)."""

    class Config(NormalizedTargetsConfig):
        kind: Literal["l2"] = "l2"

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(predictions, targets)


class SmoothL1Loss(NormalizedTargetsLoss):
    """Smooth L1 (Huber, beta) averaged over every element: what the reference code trains with."""

    class Config(NormalizedTargetsConfig):
        kind: Literal["smooth_l1"] = "smooth_l1"
        beta: float = Field(1.0, gt=0, description="Transition point from L2 to L1 (reference 1).")

    config: Config

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(predictions, targets, beta=self.config.beta)
