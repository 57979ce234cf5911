"""Losses in representation space."""

from jepa_kit.losses.base import Loss, LossConfig, NormalizedTargetsConfig, NormalizedTargetsLoss

__all__ = ["Loss", "LossConfig", "NormalizedTargetsConfig", "NormalizedTargetsLoss"]
