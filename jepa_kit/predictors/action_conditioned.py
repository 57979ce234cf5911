"""V-JEPA 2-AC's action-conditioned predictor: a block-causal transformer over frame tokens.

Every time step t contributes ``[action_t, (state_t,) tokens of frame t]``; a token attends to
every token of its own and earlier time steps, never later ones (the block-causal mask), so the
output at frame t is the prediction of frame t + 1 from frames <= t and actions <= t ([0],
Sec. 3: "each patch feature in a given frame attends to ... patch features, actions and
end-effector states from the current and previous time-steps"). Tokens are linearly mapped to
the predictor's width, positions enter as 3-D rotary embeddings (time, row, column) on equal
thirds of each head (the conditioning tokens rotate by time only), and the output is
layer-normed and mapped back to the encoder's width.

The layout (parameter names, RoPE split, the action/state linear maps) follows the official
``VisionTransformerPredictorAC`` so its weights load and its outputs are pinned by fixtures;
that includes its RoPE frequency layout, which repeats the frequency table across the two
halves of each rotated slice instead of interleaving it (kept by the official code for
compatibility with its released weights).

- [0]: V-JEPA 2, Assran et al. 2025, arXiv:2506.09985
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from jepa_kit.predictors.base import Predictor, PredictorConfig


def block_causal_mask(frames: int, tokens_per_frame: int, cond_tokens: int) -> torch.Tensor:
    """(L, L) bool, True where a query may attend: L = frames * (cond + tokens), each time
    step's block sees its own and every earlier block."""
    per = cond_tokens + tokens_per_frame
    step = torch.arange(frames * per) // per
    return step[:, None] >= step[None, :]


def rotate(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of ``x`` (..., N, D) at positions ``pos`` (N,), the official layout:
    pairs (2i, 2i+1) rotate, with angle pos * 10000^(-j / (D/2)) for j = the pair's index
    modulo D/2 (the table repeated over both halves)."""
    d = x.shape[-1]
    omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=x.dtype, device=x.device) / (d / 2.0))
    angle = pos.to(x.dtype)[:, None] * omega  # (N, D/2)
    cos, sin = angle.cos().repeat(1, 2), angle.sin().repeat(1, 2)  # (N, D)
    pairs = x.unflatten(-1, (-1, 2))
    swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return x * cos + swapped * sin


class ACAttention(nn.Module):
    """Multi-head attention with 3-D RoPE on frame tokens and time-only RoPE on conditioning
    tokens."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        # Each of time, row and column rotates an even slice of a third of the head.
        self.rope_dim = 2 * ((self.head_dim // 3) // 2)

    def _rope(self, t: torch.Tensor, frames: int, grid: tuple[int, int], cond: int
              ) -> torch.Tensor:
        b, h, _, d = t.shape
        per = grid[0] * grid[1]
        t = t.view(b, h, frames, cond + per, d)
        r, dev = self.rope_dim, t.device
        time = torch.arange(frames, device=dev)
        parts = []
        if cond:
            c = t[:, :, :, :cond]  # (B, h, T, K, d): rotate by time only
            ct = rotate(c[..., :r].transpose(2, 3), time).transpose(2, 3)
            parts.append(torch.cat([ct, c[..., r:]], dim=-1))
        x = t[:, :, :, cond:].reshape(b, h, frames * per, d)
        ids = torch.arange(frames * per, device=dev)
        positions = (ids // per, (ids % per) // grid[1], ids % grid[1])
        rotated = [rotate(x[..., i * r:(i + 1) * r], p) for i, p in enumerate(positions)]
        x = torch.cat([*rotated, x[..., 3 * r:]], dim=-1).view(b, h, frames, per, d)
        parts.append(x)
        return torch.cat(parts, dim=3).view(b, h, -1, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, frames: int, grid: tuple[int, int],
                cond: int) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4)
        q, k = self._rope(q, frames, grid, cond), self._rope(k, frames, grid, cond)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class ACBlock(nn.Module):
    """Pre-norm transformer block around ``ACAttention`` and a GELU MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = ACAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc1", nn.Linear(dim, hidden))
        self.mlp.add_module("act", nn.GELU())
        self.mlp.add_module("fc2", nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, frames: int, grid: tuple[int, int],
                cond: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask, frames, grid, cond)
        return x + self.mlp(self.norm2(x))


class ActionConditionedPredictor(Predictor):
    """``forward(tokens (B, T*N, D), actions (B, T, A), states (B, T, S) | None)`` ->
    (B, T*N, D): the tokens of frames 1..T predicted from frames 0..T-1 (block-causal)."""

    #: Takes frames, actions and states, not context/target indices (see ``forward``).
    action_conditioned: ClassVar[bool] = True

    class Config(PredictorConfig):
        kind: Literal["ac_predictor"] = "ac_predictor"
        embed_dim: int = Field(1024, ge=8, le=8192, description="Predictor width (V-JEPA "
                               "2-AC: 1024).")
        depth: int = Field(24, ge=1, le=128, description="Transformer blocks (V-JEPA 2-AC: 24).")
        num_heads: int = Field(16, ge=1, le=128, description="Attention heads (V-JEPA 2-AC: 16).")
        mlp_ratio: float = Field(4.0, gt=0, le=16, description="MLP hidden width / embed_dim.")
        action_dim: int = Field(7, ge=1, le=256, description="Size of one action (V-JEPA 2-AC: "
                                "7, an end-effector delta; the built-in room: 2).")
        state_dim: int = Field(7, ge=1, le=256, description="Size of one proprioceptive state "
                               "(V-JEPA 2-AC: 7; the built-in room: 2, the agent's position).")
        use_state: bool = Field(True, description="Add a state token per time step (V-JEPA "
                                "2-AC: yes); off, the only conditioning is the action.")
        init_std: float = Field(0.02, gt=0, le=1, description="Std of the truncated-normal "
                                "initial weights.")

    def __init__(self, config: Config, *, grid: tuple[int, ...], embed_dim: int,
                 encoder_heads: int = 0) -> None:
        super().__init__()
        c = config
        if c.embed_dim % c.num_heads:
            raise ValueError(f"predictor.embed_dim={c.embed_dim} is not a multiple of "
                             f"predictor.num_heads={c.num_heads}")
        self.config = config
        self.grid = (int(grid[-2]), int(grid[-1]))  # one frame's patch grid
        self.tokens_per_frame = self.grid[0] * self.grid[1]
        self.cond_tokens = 2 if c.use_state else 1
        self.predictor_embed = nn.Linear(embed_dim, c.embed_dim)
        self.action_encoder = nn.Linear(c.action_dim, c.embed_dim)
        self.state_encoder = nn.Linear(c.state_dim, c.embed_dim) if c.use_state else None
        self.predictor_blocks = nn.ModuleList(
            ACBlock(c.embed_dim, c.num_heads, c.mlp_ratio) for _ in range(c.depth))
        self.predictor_norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.predictor_proj = nn.Linear(c.embed_dim, embed_dim)
        self.apply(self._init_weights)
        for i, block in enumerate(self.predictor_blocks, start=1):  # as the official rescale
            block.attn.proj.weight.data.div_(math.sqrt(2.0 * i))
            block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * i))

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=self.config.init_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, actions: torch.Tensor,  # type: ignore[override]
                states: torch.Tensor | None = None) -> torch.Tensor:
        b, length, _ = tokens.shape
        n = self.tokens_per_frame
        if length % n:
            raise ValueError(f"ac_predictor: {length} tokens are not whole frames of {n}")
        frames = length // n
        if actions.shape[:2] != (b, frames):
            raise ValueError(f"ac_predictor: actions {tuple(actions.shape)} do not match "
                             f"{frames} frames of batch {b}")
        x = self.predictor_embed(tokens).view(b, frames, n, -1)  # (B, T, N, d)
        cond = [self.action_encoder(actions).unsqueeze(2)]
        if self.state_encoder is not None:
            if states is None or states.shape[:2] != (b, frames):
                raise ValueError(f"ac_predictor: use_state needs states (B={b}, T={frames}, S), "
                                 f"got {None if states is None else tuple(states.shape)}")
            cond.append(self.state_encoder(states).unsqueeze(2))
        x = torch.cat([*cond, x], dim=2).flatten(1, 2)  # (B, T*(K+N), d)
        k = self.cond_tokens
        mask = block_causal_mask(frames, n, k).to(x.device)
        for block in self.predictor_blocks:
            x = block(x, mask, frames, self.grid, k)
        x = x.view(b, frames, k + n, -1)[:, :, k:].flatten(1, 2)
        return self.predictor_proj(self.predictor_norm(x))
