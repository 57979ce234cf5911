"""The predictor interface: context tokens + where they are + where the targets are -> targets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from jepa_kit.config import ComponentConfig


class PredictorConfig(ComponentConfig):
    """Base of predictor configs."""

    component_kind: ClassVar[str] = "predictor"


class Predictor(nn.Module, ABC):
    """Predicts the target encoder's tokens at target positions from the context tokens.

    Built as ``cls(config, grid=g, embed_dim=D, encoder_heads=h)`` with the encoder's patch grid
    ``g`` ((H, W) for images, (T, H, W) for video); ``embed_dim`` is the
    encoder's width, which predictions must have. Not for: computing the loss or gathering
    targets (``jepa_kit.ops.masks`` does that).
    """

    Config: ClassVar[type[PredictorConfig]]
    #: True when ``forward`` takes ``context_valid`` / ``target_valid`` (the fixed-shape path).
    accepts_padding: ClassVar[bool] = False

    @abstractmethod
    def forward(
        self, context: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor
    ) -> torch.Tensor:
        """Predict target tokens.

        ``context`` (B, Kc, D) encoder tokens at ``context_idx`` (B, Kc); ``target_idx``
        (M, B, Kt) holds M target blocks. Returns (M * B, Kt, D), block-major: row ``j * B + b``
        is block j of sample b (the reference layout).

        Predictors with ``accepts_padding`` also take ``context_valid`` (Kc,) and
        ``target_valid`` (Kt,) bool: the index tensors were padded to bucket lengths and only
        True columns are real. Padded tokens must not be attended to; the predictions at padded
        target columns are discarded by the caller.
        """
