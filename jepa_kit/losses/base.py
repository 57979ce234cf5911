"""The loss interface: predicted vs target representations -> a scalar."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from jepa_kit.config import ComponentConfig


class LossConfig(ComponentConfig):
    """Base of loss configs."""

    component_kind: ClassVar[str] = "loss"


class Loss(nn.Module, ABC):
    """A distance between predictions and targets in feature space.

    Built as ``cls(config)``. ``prepare_targets`` is applied to the target encoder's output
    (under no_grad) before targets are gathered, so a loss owns its target normalisation.
    Not for: gathering tokens or averaging across processes (the trainer does both).
    """

    Config: ClassVar[type[LossConfig]]

    def prepare_targets(self, features: torch.Tensor) -> torch.Tensor:
        """Transform full target-encoder features (B, N, D); identity by default."""
        return features

    @abstractmethod
    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``predictions`` and ``targets`` (M * B, Kt, D) -> scalar loss."""
