"""``vicreg_l2``: I-JEPA's L2 plus VICReg's variance and covariance terms on the predictions.

VICReg keeps every embedding dimension's standard deviation above a margin (variance term, a
hinge) and decorrelates dimensions (covariance term, the squared off-diagonal covariances
divided by the width) ([2], Eqs. 1-4). Here each predicted patch token is one sample:
predictions (M*B, Kt, D) are flattened to (M*B*Kt, D) before the statistics. The invariance
term is I-JEPA's L2 to the target representations ([0], Eq. 1). The default weights keep
VICReg's ratio 25 : 25 : 1 with the invariance weight scaled to 1.

The statistics are per process; under DDP each rank regularises its own share of the batch.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [2]: VICReg, Bardes et al. 2022, arXiv:2105.04906
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from jepa_kit.losses import NormalizedTargetsConfig, NormalizedTargetsLoss
from pydantic import Field


def variance_term(z: torch.Tensor, std_target: float, eps: float) -> torch.Tensor:
    """VICReg's hinge on each dimension's std: ``mean(relu(gamma - sqrt(var + eps)))``; z (n, D)."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(std_target - std).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """VICReg's decorrelation: squared off-diagonal covariances summed, over D; z (n, D)."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)  # (D, D)
    off = cov - torch.diag_embed(torch.diagonal(cov))
    return off.pow(2).sum() / d


class VICRegL2Loss(NormalizedTargetsLoss):
    """``l2_weight * L2 + variance_weight * v(pred) + covariance_weight * c(pred)``."""

    class Config(NormalizedTargetsConfig):
        kind: Literal["vicreg_l2"] = "vicreg_l2"
        l2_weight: float = Field(
            1.0, ge=0, le=1e3, description="Weight of the L2 (mean squared error) to the targets."
        )
        variance_weight: float = Field(
            1.0, ge=0, le=1e3, description="Weight of the variance hinge (VICReg: 25 against an "
            "invariance weight of 25)."
        )
        covariance_weight: float = Field(
            0.04, ge=0, le=1e3, description="Weight of the covariance term (VICReg: 1 against "
            "an invariance weight of 25)."
        )
        std_target: float = Field(
            1.0, gt=0, le=100, description="The std each dimension is pushed above (VICReg's "
            "gamma, 1)."
        )
        eps: float = Field(
            1e-4, gt=0, le=1, description="Added to the variance before the square root "
            "(VICReg: 1e-4)."
        )

    config: Config

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        c = self.config
        loss = c.l2_weight * F.mse_loss(predictions, targets)
        z = predictions.reshape(-1, predictions.shape[-1])  # (M*B*Kt, D): a token is a sample
        if z.shape[0] < 2:  # no spread to measure from a single token
            return loss
        if c.variance_weight:
            loss = loss + c.variance_weight * variance_term(z, c.std_target, c.eps)
        if c.covariance_weight:
            loss = loss + c.covariance_weight * covariance_term(z)
        return loss
