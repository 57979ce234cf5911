"""``cosine``: one minus the cosine similarity of each predicted token and its target, averaged.

BYOL regresses l2-normalised projections, ``2 - 2 cos(p, z)`` ([1], Eq. 2); this is the same
objective up to a factor of two, per patch token instead of per image. Against I-JEPA's L2
([0], Eq. 1) it removes the feature norm from the objective, which is what an ablation of the
distance asks.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: BYOL, Grill et al. 2020, arXiv:2006.07733
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from jepa_kit.losses import NormalizedTargetsConfig, NormalizedTargetsLoss
from pydantic import Field


class CosineLoss(NormalizedTargetsLoss):
    """``mean(1 - cos(prediction, target))`` over every predicted token; in [0, 2]."""

    class Config(NormalizedTargetsConfig):
        kind: Literal["cosine"] = "cosine"
        eps: float = Field(
            1e-8, gt=0, le=1e-2, description="Floor of each vector norm in the cosine."
        )

    config: Config

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        cos = F.cosine_similarity(predictions, targets, dim=-1, eps=self.config.eps)  # (M*B, Kt)
        return (1.0 - cos).mean()
