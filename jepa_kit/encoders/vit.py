"""The I-JEPA context / target encoder: a plain ViT with a fixed 2-D sin-cos table, no class token.

"We use a Vision Transformer (ViT) architecture for the context-encoder, target-encoder and
predictor" ([0], Sec. 4). The module layout, state-dict keys and numerics follow the reference
``VisionTransformer``: patch conv -> + sin-cos table -> (keep some tokens) -> pre-norm blocks ->
LayerNorm (eps 1e-6). The table is a persistent buffer named ``pos_embed`` so reference
checkpoints load with ``strict=True``; it never trains.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from pydantic import Field, model_validator
from timm.layers import resample_abs_pos_embed
from torch import nn

from jepa_kit.encoders.base import Encoder, EncoderConfig
from jepa_kit.layers import (
    make_blocks,
    make_patch_embed,
    norm_layer,
    reference_init_,
    run_blocks,
    sincos_2d,
)
from jepa_kit.ops.masks import gather_tokens, key_padding_mask

ViTSize = Literal["tiny", "small", "base", "large", "huge", "giant"]


class ViTDims(NamedTuple):
    """The architecture numbers of one ViT."""

    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float


#: The reference's named sizes (``vit_tiny`` ... ``vit_giant``); giant's MLP is 48/11 wide.
VIT_SIZES: dict[str, ViTDims] = {
    "tiny": ViTDims(192, 12, 3, 4.0),
    "small": ViTDims(384, 12, 6, 4.0),
    "base": ViTDims(768, 12, 12, 4.0),
    "large": ViTDims(1024, 24, 16, 4.0),
    "huge": ViTDims(1280, 32, 16, 4.0),
    "giant": ViTDims(1408, 40, 16, 48 / 11),
}


class ViTEncoder(Encoder):
    """I-JEPA's ViT encoder; ``forward(images, keep)`` -> (B, K or N, D) patch tokens."""

    accepts_padding = True

    class Config(EncoderConfig):
        kind: Literal["vit"] = "vit"
        size: ViTSize = Field(
            "base", description="Named size (tiny/small/base/large/huge/giant); the paper's "
            "headline models are huge (patch 14 and 16)."
        )
        embed_dim: int | None = Field(
            None, ge=4, le=16384, description="Token width D; None takes it from `size`. A "
            "multiple of 4 (the sin-cos table splits it in four)."
        )
        depth: int | None = Field(
            None, ge=1, le=256, description="Number of blocks; None: from `size`."
        )
        num_heads: int | None = Field(
            None, ge=1, le=256, description="Attention heads; None: from `size`. Must divide the "
            "width."
        )
        mlp_ratio: float | None = Field(
            None, gt=0, le=64, description="MLP hidden width / D; None: from `size`."
        )
        patch_size: int = Field(
            16, ge=1, le=1024, description="Side of one square patch in pixels."
        )
        drop_path_rate: float = Field(
            0.0, ge=0, lt=1, description="Stochastic depth at the last block, rising linearly "
            "from 0 at the first (reference: 0)."
        )
        qkv_bias: bool = Field(True, description="Bias on the fused q/k/v projection (reference).")

        def resolved_patch_size(self) -> int:
            return self.patch_size

        def dims(self) -> ViTDims:
            """The architecture this config describes: named size, then explicit overrides."""
            base = VIT_SIZES[self.size]
            return ViTDims(
                embed_dim=self.embed_dim if self.embed_dim is not None else base.embed_dim,
                depth=self.depth if self.depth is not None else base.depth,
                num_heads=self.num_heads if self.num_heads is not None else base.num_heads,
                mlp_ratio=self.mlp_ratio if self.mlp_ratio is not None else base.mlp_ratio,
            )

        @model_validator(mode="after")
        def _consistent(self) -> ViTEncoder.Config:
            d = self.dims()
            if d.embed_dim % 4:
                raise ValueError(
                    f"encoder.embed_dim={d.embed_dim} must be a multiple of 4 (2-D sin-cos table)"
                )
            if d.embed_dim % d.num_heads:
                raise ValueError(
                    f"encoder.num_heads={d.num_heads} does not divide the width {d.embed_dim} "
                    f"(encoder.size={self.size!r}, encoder.embed_dim={self.embed_dim})"
                )
            return self

    def __init__(
        self,
        config: Config,
        *,
        img_size: int,
        in_chans: int = 3,
        embed_layer: Callable[..., nn.Module] = make_patch_embed,
        pos_table: Callable[..., torch.Tensor] = sincos_2d,
    ) -> None:
        """``embed_layer(img_size, patch_size, in_chans, dim)`` returns the patchifier: a
        module with a ``grid_size`` (any number of dimensions: (H, W) for images, (T, H, W)
        for video tubelets) mapping inputs to (B, N, D) tokens in row-major grid order;
        ``pos_table(dim, grid, device=None)`` returns the fixed (N, D) position table. The
        defaults are the I-JEPA reference's conv patchifier and 2-D sin-cos table."""
        super().__init__()
        if img_size % config.patch_size:
            raise ValueError(
                f"data.img_size={img_size} is not a multiple of "
                f"encoder.patch_size={config.patch_size}"
            )
        self.config = config
        dims = config.dims()
        self.embed_dim = dims.embed_dim
        self.num_heads = dims.num_heads
        self.depth = dims.depth
        self.patch_embed = embed_layer(img_size, config.patch_size, in_chans, dims.embed_dim)
        self.grid = tuple(int(g) for g in self.patch_embed.grid_size)
        self._pos_table = pos_table
        # A buffer, not a parameter: fixed, so neither the optimizer nor the EMA touch it.
        self.register_buffer("pos_embed", pos_table(dims.embed_dim, self.grid).unsqueeze(0))
        self.blocks = make_blocks(
            dims.embed_dim, dims.depth, dims.num_heads, dims.mlp_ratio,
            qkv_bias=config.qkv_bias, drop_path_rate=config.drop_path_rate,
        )
        self.norm = norm_layer(dims.embed_dim)
        self.grad_checkpointing = False
        reference_init_(self)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Re-initialise weights and refill the sin-cos table (e.g. after ``to_empty``)."""
        reference_init_(self)
        self.pos_embed.copy_(
            self._pos_table(self.embed_dim, self.grid, device=self.pos_embed.device).unsqueeze(0)
        )

    def positions(self, num_tokens: int, images: torch.Tensor) -> torch.Tensor:
        """The (1, N, D) table for ``images``: the built one, or for 2-D inputs of another
        size (multi-crop's local views) the built one resampled bicubically to their grid,
        as DINO does for its global table."""
        if num_tokens == self.pos_embed.shape[1]:
            return self.pos_embed  # type: ignore[return-value]
        patch = self.config.patch_size
        grid = [side // patch for side in images.shape[2:]]
        if len(self.grid) != 2 or len(grid) != 2 or math.prod(grid) != num_tokens:
            raise ValueError(f"encoder built for a {self.grid} patch grid got input of shape "
                             f"{tuple(images.shape)}")
        return resample_abs_pos_embed(self.pos_embed, new_size=grid, old_size=list(self.grid),
                                      num_prefix_tokens=0)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations in the backward pass (``train.activation_checkpointing``)."""
        self.grad_checkpointing = enable

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None,
                keep_valid: torch.Tensor | None = None) -> torch.Tensor:
        x = self.patch_embed(images)  # (B, N, D)
        x = x + self.positions(x.shape[1], images)
        if keep is not None:
            # Positions are added before dropping tokens, so kept tokens know where they are.
            x = gather_tokens(x, keep)  # (B, K, D)
        mask = None if keep_valid is None else key_padding_mask(keep_valid)
        x = run_blocks(self.blocks, x, checkpointed=self.grad_checkpointing, attn_mask=mask)
        return self.norm(x)
