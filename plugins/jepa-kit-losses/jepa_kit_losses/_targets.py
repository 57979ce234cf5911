"""The target normalisation the built-in losses use, so an ablation changes only the distance."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jepa_kit.losses import Loss, LossConfig
from pydantic import Field


class NormalizedTargetsConfig(LossConfig):
    normalize_targets: bool = Field(
        True, description="Layer-norm the target features (no affine, eps 1e-5) as the I-JEPA "
        "reference and jepa-kit's l2 loss do."
    )


class NormalizedTargetsLoss(Loss):
    """A loss whose ``prepare_targets`` is the reference's parameter-free layer norm."""

    def __init__(self, config: NormalizedTargetsConfig) -> None:
        super().__init__()
        self.config = config

    def prepare_targets(self, features: torch.Tensor) -> torch.Tensor:
        if not self.config.normalize_targets:
            return features
        return F.layer_norm(features, (features.shape[-1],))  # (B, N, D), eps 1e-5
