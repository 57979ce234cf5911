"""The encoder interface: images (and optionally the patch indices to keep) -> patch tokens."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from jepa_kit.config import ComponentConfig
from jepa_kit.encoders.blocks import no_blocks_message
from jepa_kit.errors import UserError


class EncoderConfig(ComponentConfig):
    """Base of encoder configs."""

    component_kind: ClassVar[str] = "encoder"

    def resolved_patch_size(self) -> int:
        """Side of one square patch in pixels; recipes use it to derive the patch grid."""
        raise NotImplementedError(f"{type(self).__name__} must define resolved_patch_size()")


class Encoder(nn.Module, ABC):
    """Maps images to one token per patch, optionally keeping only some patches.

    Built as ``cls(config, img_size=..., in_chans=...)``. Patch tokens are ordered row-major on
    the patch grid (token ``t = r * grid_w + c``); extra tokens (class, registers) are never
    returned. Not for: pooling, heads or projection to another space (evaluation pools tokens).
    """

    Config: ClassVar[type[EncoderConfig]]

    #: Width D of the returned tokens.
    embed_dim: int
    #: Number of attention heads (predictors default to it, as in the reference).
    num_heads: int
    #: Patch grid: (rows, cols) for images, (frames, rows, cols) for video; tokens row-major.
    grid: tuple[int, ...]
    #: True when ``forward`` takes ``keep_valid`` (the fixed-shape path, ``method.length_bucket``).
    accepts_padding: ClassVar[bool] = False
    #: Extra tokens the blocks run ahead of the patch tokens (a timm model's class and
    #: register tokens); ``block_outputs`` drops them.
    num_prefix_tokens: int = 0

    @property
    def num_patches(self) -> int:
        return math.prod(self.grid)

    def block_modules(self) -> Sequence[nn.Module]:
        """The transformer blocks, first to last, whose outputs ``jepa_kit.encoders.
        block_outputs`` reads: each takes and returns (B, P + K, D) tokens (P prefix tokens).

        The default is ``self.blocks``; an encoder built otherwise overrides this, and one
        without blocks raises ``UserError`` (the default does, naming its kind)."""
        blocks = getattr(self, "blocks", None)
        if isinstance(blocks, (nn.ModuleList, nn.Sequential)) and len(blocks):
            return list(blocks)
        raise UserError(no_blocks_message(self))

    @abstractmethod
    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``images`` (B, C, H, W) (or (B, C, T, H, W) for a 3-D patch grid).

        ``keep`` (B, K) int64 patch indices: positions are added to every patch token first, then
        only the kept tokens go through the transformer. Returns (B, K, D), or (B, N, D) when
        ``keep`` is None.

        Encoders with ``accepts_padding`` also take ``keep_valid`` (K,) bool: ``keep`` was padded
        to a bucket length and only the True columns are real; padded tokens must not be
        attended to (their own outputs are discarded).
        """
