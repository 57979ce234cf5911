"""I-JEPA's narrow ViT predictor: context tokens + mask tokens at target positions -> targets.

"The predictor takes as input the output of the context encoder and, conditioned on positional
tokens, predicts the representations of a target block at a specific location" ([0], Sec. 3).
Layout and numerics follow the reference ``VisionTransformerPredictor``: project the context to
the predictor width and add the predictor's sin-cos table at the context positions; build one
mask token per target patch (shared learned vector + table at the target position); tile the
context once per target block (row ``j * B + b``); run [context | mask tokens] through the
blocks; LayerNorm; keep the mask-token outputs; project back to the encoder width.

``targets`` chooses how the M target blocks share a pass (all three return the same layout):

* ``per_block`` (default, the paper's and the reference's): M sequences [context | block j];
  the context is run M times and its tokens also attend to that block's mask tokens.
* ``joint``: one sequence [context | block 0 | ... | block M-1] per sample, every token
  attending to every other: the context runs once, but blocks see each other (as
  stable-pretraining's I-JEPA does). A different algorithm, measured as an ablation.
* ``isolated``: the same single sequence with an attention mask: context tokens attend to the
  context only, block j's mask tokens to the context and block j. The context runs once and the
  blocks stay independent; it equals neither of the others (per_block's context tokens also
  see one block).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from jepa_kit.layers import (
    INIT_STD,
    make_blocks,
    norm_layer,
    reference_init_,
    run_blocks,
    sincos_2d,
)
from jepa_kit.ops.masks import (
    apply_masks,
    gather_tokens,
    isolated_blocks_mask,
    key_padding_mask,
    repeat_batch,
    split_blocks,
)
from jepa_kit.predictors.base import Predictor, PredictorConfig


class NarrowViT(Predictor):
    """The body every ViT predictor shares (the reference's ``VisionTransformerPredictor``):
    project the context to the predictor width d, a fixed position table over the patch grid,
    the blocks, a LayerNorm and the projection back to the encoder width. Subclasses add their
    mask token(s) (``make_mask_tokens`` / ``init_mask_tokens``) and ``forward``.

    Modules are made in the reference's order (embed, mask tokens, table, blocks, norm,
    projection), so a seeded build draws the same weights.
    """

    def __init__(self, config: PredictorConfig, *, grid: tuple[int, ...], embed_dim: int,
                 encoder_heads: int, pos_table: Callable[..., torch.Tensor]) -> None:
        """``pos_table(dim, grid, device=None)`` gives the fixed (N, d) position table."""
        super().__init__()
        cfg: Any = config  # the subclass's Config: width, depth, heads, MLP, bias, drop path
        d = cfg.embed_dim
        heads = cfg.num_heads if cfg.num_heads is not None else encoder_heads
        if d % heads:
            key = "predictor.num_heads" if cfg.num_heads is not None else "encoder heads"
            raise ValueError(
                f"{key}={heads} does not divide predictor.embed_dim={d}; set predictor.num_heads"
            )
        self.config = cfg
        self.grid = tuple(int(g) for g in grid)
        self.num_heads = heads
        self._pos_table = pos_table
        self.predictor_embed = nn.Linear(embed_dim, d)
        self.make_mask_tokens(d)
        self.register_buffer("predictor_pos_embed", pos_table(d, self.grid).unsqueeze(0))
        self.predictor_blocks = make_blocks(
            d, cfg.depth, heads, cfg.mlp_ratio,
            qkv_bias=cfg.qkv_bias, drop_path_rate=cfg.drop_path_rate,
        )
        self.predictor_norm = norm_layer(d)
        self.predictor_proj = nn.Linear(d, embed_dim)
        self.grad_checkpointing = False
        self.reset_parameters()

    def make_mask_tokens(self, d: int) -> None:
        """Register the learned mask token(s) of width ``d``."""
        raise NotImplementedError

    def init_mask_tokens(self) -> None:
        """Initialise the mask token(s) (after the reference init of every other weight)."""
        raise NotImplementedError

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Reference init (see ``reference_init_``), the mask tokens', then refill the table."""
        reference_init_(self)
        self.init_mask_tokens()
        table = self._pos_table(self.config.embed_dim, self.grid,
                                device=self.predictor_pos_embed.device)
        self.predictor_pos_embed.copy_(table.unsqueeze(0))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations in the backward pass (``train.activation_checkpointing``)."""
        self.grad_checkpointing = enable

    def readout(self, x: torch.Tensor, n_context: int) -> torch.Tensor:
        """The query tokens' outputs at the encoder width. LayerNorm is per token, so norming
        only the queries is exact and skips the context tokens the reference norms and then
        throws away."""
        return self.predictor_proj(self.predictor_norm(x[:, n_context:]))


class ViTPredictor(NarrowViT):
    """Transformer predictor of width ``embed_dim`` (reference: 384 for every encoder size)."""

    accepts_padding = True

    class Config(PredictorConfig):
        kind: Literal["vit_predictor"] = "vit_predictor"
        embed_dim: int = Field(
            384, ge=4, le=16384, description="Predictor width d (a multiple of 4: sin-cos "
            "table); the paper uses 384 for every encoder."
        )
        depth: int = Field(6, ge=1, le=256, description="Predictor blocks (paper: 6, 12 for "
                           "ViT-H/16 at 448 px).")
        num_heads: int | None = Field(
            None, ge=1, le=256, description="Attention heads; None uses the encoder's head "
            "count, as the reference does. Must divide `embed_dim`."
        )
        mlp_ratio: float = Field(4.0, gt=0, le=64, description="MLP hidden width / d.")
        drop_path_rate: float = Field(
            0.0, ge=0, lt=1, description="Stochastic depth at the last block, rising linearly "
            "from 0 (reference: 0)."
        )
        qkv_bias: bool = Field(True, description="Bias on the fused q/k/v projection (reference).")
        targets: Literal["per_block", "joint", "isolated"] = Field(
            "per_block", description="How the target blocks share a pass: per_block (the "
            "paper's: one pass of [context | block] per block), joint (one pass of [context | "
            "all blocks], blocks attend to each other) or isolated (one pass, attention-masked "
            "so the context sees only itself and each block the context and itself)."
        )

    def __init__(
        self, config: Config, *, grid: tuple[int, ...], embed_dim: int, encoder_heads: int,
        pos_table: Callable[..., torch.Tensor] = sincos_2d,
    ) -> None:
        """``pos_table(dim, grid, device=None)`` gives the fixed (N, d) position table of the
        patch grid (any number of dimensions); the default is the reference's 2-D sin-cos."""
        if config.embed_dim % 4:
            raise ValueError(f"predictor.embed_dim={config.embed_dim} must be a multiple of 4 "
                             "(sin-cos table)")
        super().__init__(config, grid=grid, embed_dim=embed_dim, encoder_heads=encoder_heads,
                         pos_table=pos_table)

    def make_mask_tokens(self, d: int) -> None:
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))

    def init_mask_tokens(self) -> None:
        nn.init.trunc_normal_(self.mask_token, std=INIT_STD, a=-2.0, b=2.0)

    def forward(
        self, context: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor,
        context_valid: torch.Tensor | None = None, target_valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        m, b, kt = target_idx.shape  # (M, B, Kt)
        table = self.predictor_pos_embed.expand(b, -1, -1)  # (B, N, d), a view
        # Projected once, before any tiling: the Linear is per token, so this is exact.
        x = self.predictor_embed(context)  # (B, Kc, d)
        x = x + gather_tokens(table, context_idx)
        n_context = x.shape[1]
        mode = self.config.targets
        padded = context_valid is not None or target_valid is not None
        if padded:  # the fixed-shape path: which key columns are real
            context_valid = (context_valid if context_valid is not None
                             else context_idx.new_ones(n_context, dtype=torch.bool))
            target_valid = (target_valid if target_valid is not None
                            else target_idx.new_ones(kt, dtype=torch.bool))

        if mode == "per_block":
            # One query token per target patch: the shared mask token placed by the table.
            queries = self.mask_token + apply_masks(table, target_idx)  # (M*B, Kt, d)
            x = torch.cat([repeat_batch(x, m), queries], dim=1)  # (M*B, Kc+Kt, d), row j*B+b
            mask = (key_padding_mask(torch.cat([context_valid, target_valid])) if padded
                    else None)
        else:
            # Block j's queries are tokens Kc + j*Kt ... of each sample's single sequence.
            flat_idx = target_idx.transpose(0, 1).reshape(b, m * kt)  # (B, M*Kt)
            queries = self.mask_token + gather_tokens(table, flat_idx)  # (B, M*Kt, d)
            x = torch.cat([x, queries], dim=1)  # (B, Kc+M*Kt, d)
            mask = (isolated_blocks_mask(n_context, m, kt, device=x.device)
                    if mode == "isolated" else None)
            if padded:
                keys = key_padding_mask(torch.cat([context_valid, target_valid.repeat(m)]))
                mask = keys if mask is None else mask & keys

        x = run_blocks(self.predictor_blocks, x, checkpointed=self.grad_checkpointing,
                       attn_mask=mask)
        out = self.readout(x, n_context)
        return out if mode == "per_block" else split_blocks(out, m)  # (M*B, Kt, D)
