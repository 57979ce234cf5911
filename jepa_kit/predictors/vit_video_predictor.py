"""V-JEPA's predictor: I-JEPA's narrow ViT with one learned mask token per mask generator.

"The predictor ... takes as input the sequence of embeddings from the x-encoder together with a
set of learnable mask tokens with positional embeddings indicating the spatio-temporal
positions of the y tokens" ([0], Sec. 3.1). V-JEPA samples several kinds of masks per batch
(short- and long-range, Sec. 3.2) and gives each its own mask token: the official predictor
holds ``mask_tokens`` (a ``ParameterList``, zero-initialised by default) and takes the
generator's index as ``mask_index`` (taken modulo the number of tokens, as the official code).

Layout and numerics follow the official ``VisionTransformerPredictor`` with
``use_mask_tokens=True``: project the context to the predictor width and add the fixed table
at the context positions; one query per target patch = mask token + table at its position;
tile the context once per target block (row ``j * B + b``); [context | queries] through the
blocks; LayerNorm; keep the queries; project back. State-dict keys equal the official ones
(``predictor_embed``, ``mask_tokens.i``, ``predictor_pos_embed``, ``predictor_blocks``,
``predictor_norm``, ``predictor_proj``).

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from jepa_kit.encoders.vit_video import sincos_video
from jepa_kit.layers import INIT_STD, run_blocks
from jepa_kit.ops.masks import apply_masks, gather_tokens, repeat_batch
from jepa_kit.predictors.base import PredictorConfig
from jepa_kit.predictors.vit_predictor import NarrowViT


class VideoViTPredictor(NarrowViT):
    """``forward(context, context_idx, target_idx, mask_index=0)`` -> (M*B, Kt, D)."""

    class Config(PredictorConfig):
        kind: Literal["vit_video_predictor"] = "vit_video_predictor"
        embed_dim: int = Field(
            384, ge=4, le=16384, description="Predictor width d (official: 384)."
        )
        depth: int = Field(
            12, ge=1, le=256, description="Predictor blocks (official ViT-L/H: 12)."
        )
        num_heads: int | None = Field(
            None, ge=1, le=256, description="Attention heads; None uses the encoder's, as the "
            "official code. Must divide `embed_dim`."
        )
        mlp_ratio: float = Field(4.0, gt=0, le=64, description="MLP hidden width / d.")
        drop_path_rate: float = Field(
            0.0, ge=0, lt=1, description="Stochastic depth at the last block (official: 0)."
        )
        qkv_bias: bool = Field(True, description="Bias on the fused q/k/v projection.")
        num_mask_tokens: int = Field(
            2, ge=1, le=64, description="Learned mask tokens, one per mask generator of the "
            "masker (official: the number of mask configs, 2)."
        )
        zero_init_mask_tokens: bool = Field(
            True, description="Start the mask tokens at zero (official); else normal, std 0.02."
        )
        uniform_power: bool = Field(
            True, description="Equal time/row/column shares of the 3-D sin-cos table "
            "(official ViT-L/H configs: true)."
        )

    def __init__(self, config: Config, *, grid: tuple[int, ...], embed_dim: int,
                 encoder_heads: int) -> None:
        super().__init__(config, grid=grid, embed_dim=embed_dim, encoder_heads=encoder_heads,
                         pos_table=partial(sincos_video, uniform_power=config.uniform_power))
        self.num_mask_tokens = config.num_mask_tokens

    def make_mask_tokens(self, d: int) -> None:
        self.mask_tokens = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 1, d)) for _ in range(self.config.num_mask_tokens))

    def init_mask_tokens(self) -> None:
        """Official init: zero or std 0.02 (Linears std 0.02 with no depth rescaling, which
        ``init_video_model`` overwrites, see ``reference_init_``)."""
        for token in self.mask_tokens:
            if self.config.zero_init_mask_tokens:
                nn.init.zeros_(token)
            else:
                nn.init.trunc_normal_(token, std=INIT_STD, a=-2.0, b=2.0)

    def forward(self, context: torch.Tensor, context_idx: torch.Tensor,
                target_idx: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        m, b, _ = target_idx.shape  # (M, B, Kt)
        table = self.predictor_pos_embed.expand(b, -1, -1)  # (B, N, d), a view
        x = self.predictor_embed(context) + gather_tokens(table, context_idx)  # (B, Kc, d)
        n_context = x.shape[1]

        token = self.mask_tokens[mask_index % self.num_mask_tokens]  # (1, 1, d)
        queries = token + apply_masks(table, target_idx)  # (M*B, Kt, d), row j*B+b
        x = torch.cat([repeat_batch(x, m), queries], dim=1)  # (M*B, Kc+Kt, d)

        x = run_blocks(self.predictor_blocks, x, checkpointed=self.grad_checkpointing)
        return self.readout(x, n_context)  # (M*B, Kt, D)
