"""Losses in representation space."""

from jepa_kit.losses.base import Loss, LossConfig

__all__ = ["Loss", "LossConfig"]
