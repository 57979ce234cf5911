"""The loss interface: predicted vs target representations -> a scalar.

``NormalizedTargetsLoss`` is a ready base for losses that keep I-JEPA's target treatment: the
reference layer-norms the target encoder's output without affine parameters before gathering
the targets (``F.layer_norm`` over the feature dim, default eps 1e-5), so a loss built on it
changes only the distance. The built-in ``l2`` and ``smooth_l1`` and the ``jepa-kit-losses``
plugin all derive from it.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
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


class NormalizedTargetsConfig(LossConfig):
    """Base of the configs of ``NormalizedTargetsLoss`` subclasses: adds ``normalize_targets``.

    A subclass adds its ``kind`` and its own fields.
    """

    normalize_targets: bool = Field(
        True, description="Layer-norm the target features (no affine, eps 1e-5) as the reference."
    )


class NormalizedTargetsLoss(Loss):
    """A loss whose targets are layer-normed as the I-JEPA reference's ([0]); subclass it.

    Built as ``cls(config)`` with a ``NormalizedTargetsConfig``; a subclass defines ``Config``
    (deriving from ``NormalizedTargetsConfig``) and ``forward``. ``prepare_targets`` is
    ``F.layer_norm`` over the feature dim (no affine, eps 1e-5), or the identity when
    ``config.normalize_targets`` is False.
    """

    def __init__(self, config: NormalizedTargetsConfig) -> None:
        super().__init__()
        self.config = config

    def prepare_targets(self, features: torch.Tensor) -> torch.Tensor:
        if not self.config.normalize_targets:
            return features
        return F.layer_norm(features, (features.shape[-1],))  # (B, N, D); eps 1e-5 as the reference
