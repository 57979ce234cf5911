"""Attentive probe: learnable queries cross-attend to a frozen encoder's tokens, then a linear
classifier (V-JEPA's frozen evaluation, [0] Sec. 4 and App. C; the official
``src/models/attentive_pooler.py``).

The pooler is one pre-norm cross-attention block: ``q = queries + xattn(queries, LN(tokens))``,
then ``q = q + MLP(LN(q))``; ``depth > 1`` adds self-attention blocks over the queries. Its
linear layers start from a truncated normal (std ``init_std``) with zero biases, and the output
projections of block ``l`` are divided by ``sqrt(2 l)`` as in the reference. Tokens may come on
any patch grid, (B, N, D) or (B, *grid, D) (video: (B, T, H, W, D)); a boolean ``valid`` mask
of the same leading shape leaves tokens out of the attention (padding, dropped patches).

``attentive_probe`` trains it on cached tokens with ``jepa_kit.eval.probe``'s recipe; the
defaults are the paper's ImageNet settings (one query, one block, the encoder's heads, MLP ratio
4, AdamW lr 1e-3, wd 1e-3 -> 1e-6, 20 epochs, batch 1024, clip 1.0).

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import Mlp, trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from jepa_kit.eval.probe import BatchSource, ProbeOptim, cached_batches, search_and_fit


class CrossAttention(nn.Module):
    """Multi-head attention of ``queries`` (B, Q, D) over ``tokens`` (B, N, D) -> (B, Q, D)."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attentive probe: width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        b, nq, d = queries.shape
        h = self.num_heads
        q = self.q(queries).view(b, nq, h, d // h).transpose(1, 2)  # (B, h, Q, d/h)
        k, v = self.kv(tokens).view(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)  # (B, h, N, d/h)
        mask = None if valid is None else valid[:, None, None, :]  # True: may attend
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, nq, d))


class AttentivePooler(nn.Module):
    """``num_queries`` learnable queries pooled from tokens: (B, ..., D) -> (B, Q, D)."""

    def __init__(self, embed_dim: int, num_heads: int, *, num_queries: int = 1,
                 depth: int = 1, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 init_std: float = 0.02) -> None:
        super().__init__()
        if num_queries < 1 or depth < 1:
            raise ValueError(f"attentive probe: num_queries={num_queries} and depth={depth} "
                             "must be at least 1")
        self.queries = nn.Parameter(torch.zeros(1, num_queries, embed_dim))
        self.norm1 = nn.LayerNorm(embed_dim)
        self.xattn = CrossAttention(embed_dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.mlp = Mlp(embed_dim, int(embed_dim * mlp_ratio))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias)
                                    for _ in range(depth - 1))
        self._init(init_std)

    def _init(self, std: float) -> None:
        trunc_normal_(self.queries, std=std)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Residual branches of layer l scaled by 1/sqrt(2 l), as the reference does.
        outputs = [(self.xattn.proj, self.mlp.fc2)]
        outputs += [(b.attn.proj, b.mlp.fc2) for b in self.blocks]  # type: ignore[attr-defined]
        with torch.no_grad():
            for layer, pair in enumerate(outputs, 1):
                for linear in pair:
                    linear.weight.div_(math.sqrt(2.0 * layer))

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        b, d = tokens.shape[0], tokens.shape[-1]
        tokens = tokens.reshape(b, -1, d)  # any patch grid, row-major
        if valid is not None:
            valid = valid.reshape(b, -1).bool()
            if valid.shape[1] != tokens.shape[1]:
                raise ValueError(f"valid mask covers {valid.shape[1]} tokens, the features "
                                 f"{tokens.shape[1]}")
            if not bool(valid.any(dim=1).all()):
                raise ValueError("every sample needs at least one valid token")
        q = self.queries.expand(b, -1, -1)
        q = q + self.xattn(q, self.norm1(tokens), valid)
        q = q + self.mlp(self.norm2(q))
        for block in self.blocks:
            q = block(q)
        return q  # (B, Q, D)


class AttentiveClassifier(nn.Module):
    """Attentive pooler, then a linear layer on the (concatenated) query outputs."""

    def __init__(self, embed_dim: int, num_heads: int, num_classes: int, **pooler: Any) -> None:
        super().__init__()
        self.pooler = AttentivePooler(embed_dim, num_heads, **pooler)
        queries = self.pooler.queries.shape[1]
        self.linear = nn.Linear(queries * embed_dim, num_classes)
        trunc_normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(self.pooler(tokens, valid).flatten(1))  # (B, C)


def attentive_probe(
    train_tokens: torch.Tensor,
    train_labels: torch.Tensor,
    val_tokens: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    num_heads: int,
    num_classes: int | None = None,
    num_queries: int = 1,
    depth: int = 1,
    mlp_ratio: float = 4.0,
    lrs: tuple[float, ...] | None = None,
    weight_decays: tuple[float, ...] | None = None,
    optim: ProbeOptim | None = None,
    train_indices: torch.Tensor | None = None,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    batches: BatchSource | None = None,
) -> dict[str, Any]:
    """Train an ``AttentiveClassifier`` on cached tokens (B, ..., D); accuracies in [0, 1].

    ``lrs`` and ``weight_decays`` default to ``optim``'s single lr and wd (``ProbeOptim()``:
    the paper's). Tokens and labels may live on any device (training runs there). With one lr
    and one wd the probe trains on every train row (or ``train_indices``, a low-shot
    subset); with more, the setting is chosen on a hold-out (``jepa_kit.eval.probe``).
    ``batches`` replaces the cached train tokens as the training stream (e.g. tokens of
    augmented images, ``jepa_kit.eval.augmented``); ``train_tokens`` then serve the hold-out.
    Returns the val ``top1`` (``top5`` past 5 classes), the chosen ``lr`` / ``weight_decay``,
    the optimisation and pooler settings.
    """
    if min(int(train_labels.min()), int(val_labels.min())) < 0:
        raise ValueError("labels must be >= 0 (-1 marks an unlabelled image)")
    x, y = train_tokens.float(), train_labels.long().to(train_tokens.device)
    if num_classes is None:
        num_classes = int(max(int(y.max()), int(val_labels.max()))) + 1
    optim = optim or ProbeOptim()
    lrs = lrs or (optim.lr,)
    weight_decays = weight_decays or (optim.weight_decay,)
    dim = x.shape[-1]
    pooler = {"num_queries": num_queries, "depth": depth, "mlp_ratio": mlp_ratio}

    def make_head() -> nn.Module:
        return AttentiveClassifier(dim, num_heads, num_classes, **pooler).to(x.device)

    batches = batches or cached_batches(x, y, optim.batch_size, seed)
    out = search_and_fit(make_head, batches, (x, y),
                         (val_tokens.float().to(x.device), val_labels.long().to(x.device)),
                         base=optim, lrs=lrs, weight_decays=weight_decays,
                         train_indices=train_indices, holdout_fraction=holdout_fraction,
                         seed=seed)
    out.update(num_heads=num_heads, **pooler, num_classes=num_classes,
               tokens=list(x.shape[1:-1]), embed_dim=dim)
    return out
