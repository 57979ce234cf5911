"""VICReg's variance and covariance terms as a regularizer of any method's embedding.

Variance: a hinge that keeps the standard deviation of every feature over the batch at least
``gamma``; covariance: the squared off-diagonal entries of the features' covariance matrix,
summed and divided by the width ([0] Sec. 3, eq. 1-4). C-JEPA adds both to I-JEPA to keep its
embeddings from collapsing ([1]). The invariance term is the method's own loss. With ``scope =
"global"`` the embeddings of every process are gathered (through autograd) first, as VICReg's
code does, so the statistics are the global batch's.

- [0]: VICReg, Bardes, Ponce & LeCun 2022, arXiv:2105.04906
- [1]: C-JEPA, Mo & Tong 2024, arXiv:2410.19560
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from jepa_kit.regularizers.base import Regularizer, RegularizerConfig, sync_ranks


def variance_term(x: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """``x`` (..., N, D) -> mean over features (and batches) of relu(gamma - std)."""
    std = torch.sqrt(x.var(dim=-2) + eps)  # (..., D), unbiased as VICReg's torch.var
    return torch.relu(gamma - std).mean()


def covariance_term(x: torch.Tensor) -> torch.Tensor:
    """``x`` (..., N, D) -> sum of squared off-diagonal covariances / D, averaged over batches."""
    n, d = x.shape[-2], x.shape[-1]
    centred = x - x.mean(dim=-2, keepdim=True)
    cov = centred.transpose(-1, -2) @ centred / (n - 1)  # (..., D, D)
    off = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
    return (off.square().sum(dim=(-1, -2)) / d).mean()


def gather_samples(x: torch.Tensor) -> torch.Tensor:
    """Every process's samples (dim -2) concatenated, with gradients flowing back to each.

    Every process computes the same statistic, and the backward sums their gradients into each
    share: world x the share's gradient, which DDP's average over processes turns back into
    exactly the gradient of the global statistic (as VICReg's ``FullGatherLayer``)."""
    import warnings

    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        # torch marks it deprecated in favour of its functional collectives; it is still the
        # plain differentiable all_gather.
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x.contiguous()), dim=-2)


class VICReg(Regularizer):
    """``variance * variance_term + covariance * covariance_term`` of one embedding."""

    class Config(RegularizerConfig):
        kind: Literal["vicreg"] = "vicreg"
        variance: float = Field(1.0, ge=0, le=1e6,
                                description="Coefficient of the variance hinge (VICReg: 25 "
                                "against an invariance of 25, i.e. 1 here).")
        covariance: float = Field(0.04, ge=0, le=1e6,
                                  description="Coefficient of the covariance term (VICReg: 1 "
                                  "against 25, i.e. 0.04 here).")
        gamma: float = Field(1.0, gt=0, le=1e6,
                             description="Target standard deviation of every feature.")
        eps: float = Field(1e-4, gt=0, le=1, description="Added to the variance under sqrt.")

    config: Config

    def forward(self, embedding: torch.Tensor, *, step: int) -> torch.Tensor:
        x = embedding.float()
        if sync_ranks(self.config.scope):
            x = gather_samples(x)
        if x.shape[-2] < 2:
            raise ValueError(f"vicreg on {self.config.on!r}: needs at least 2 samples per "
                             f"batch for a variance, got {x.shape[-2]}")
        c = self.config
        return c.variance * variance_term(x, c.gamma, c.eps) + c.covariance * covariance_term(x)
