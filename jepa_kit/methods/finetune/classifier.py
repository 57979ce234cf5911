"""The fine-tuned classifier and its parameter groups with layer-wise lr decay.

The classifier is the encoder, an average pool of its patch tokens, a LayerNorm and a linear
head: MAE's ``global_pool`` variant ([0], App. A.2; its code's ``fc_norm``), the natural one
for encoders that return patch tokens only. The head starts near zero (truncated normal, std
2e-5, as MAE's fine-tuning code), so the first steps do not disturb the encoder.

Layer-wise lr decay (ELECTRA's, used by BEiT and MAE [0]): block ``i`` (1-based) of ``L``
trains at ``lr x decay^(L + 1 - i)``, the patch embedding and position tables at
``lr x decay^(L + 1)``, the final norm and the head at ``lr``. Blocks are found by parameter
name (``blocks.N.``), which both built-in image encoders (``vit``, ``timm``) use.

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from jepa_kit.errors import UserError

_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
#: Parameters that sit before the first block (layer 0 of the decay).
_EMBEDDING = ("patch_embed", "pos_embed", "cls_token", "reg_token", "mask_token", "norm_pre")
#: Parameters MAE exempts from weight decay besides biases and norms.
_NO_DECAY = ("pos_embed", "cls_token", "reg_token", "dist_token", "mask_token")
#: Std of the head's initial weights (MAE's fine-tuning code).
HEAD_INIT_STD = 2e-5


def make_head(dim: int, num_classes: int, *, seed: int = 0) -> nn.Sequential:
    """``LayerNorm(dim) -> Linear(dim, num_classes)``: (B, D) -> (B, K), the linear weights
    near zero. Its init depends on ``seed`` only, not on how many numbers the encoder drew."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, num_classes))
        nn.init.trunc_normal_(head[1].weight, std=HEAD_INIT_STD)
        nn.init.zeros_(head[1].bias)
    return head


class Classifier(nn.Module):
    """``encoder -> mean over patch tokens -> head``: (B, C, H, W) -> (B, K).

    Holds the method's two networks (``encoder``, ``head``) under those names, so parameter
    names read ``encoder.blocks.0...`` and ``head.1.weight``."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    @property
    def num_classes(self) -> int:
        return int(self.head[-1].out_features)  # type: ignore[index]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(images)  # (B, N, D)
        return self.head(tokens.mean(dim=1))  # (B, K)


def count_blocks(model: nn.Module) -> int:
    """Number of numbered blocks (``blocks.N.``) among ``model``'s parameter names."""
    found = [int(m.group(1)) for name, _ in model.named_parameters()
             if (m := _BLOCK.search(name))]
    return max(found) + 1 if found else 0


def layer_id(name: str, depth: int) -> int:
    """Layer of a parameter for the decay: 0 before the blocks, ``i + 1`` in block ``i``,
    ``depth + 1`` after them (final norm, head)."""
    match = _BLOCK.search(name)
    if match:
        return int(match.group(1)) + 1
    if name.startswith("encoder.") and any(part in name for part in _EMBEDDING):
        return 0
    return depth + 1


def layer_decay_groups(model: Classifier, *, layer_decay: float,
                       encoder_kind: str = "?") -> list[dict[str, Any]]:
    """Optimizer groups of ``model``'s trainable parameters, each with an ``lr_scale``.

    One group per (layer, decayed or not), in layer order: weight matrices are decayed (the
    engine's weight-decay schedule sets their ``weight_decay``); biases, norm weights (any 1-D
    tensor) and position / class tokens carry ``WD_exclude`` and no decay, as MAE.
    """
    depth = count_blocks(model.encoder)
    if depth == 0 and layer_decay < 1:
        raise UserError(
            f"method.layer_decay={layer_decay} (--layer-decay): the encoder (encoder.kind="
            f"{encoder_kind!r}) has no numbered blocks (parameters named blocks.N.*) to decay "
            f"over; set it to 1 to fine-tune every layer at one lr")
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer = layer_id(name, depth)
        decay = param.ndim > 1 and not any(name.endswith(n) for n in _NO_DECAY)
        group = groups.setdefault((layer, decay), {
            "params": [], "names": [], "lr_scale": layer_decay ** (depth + 1 - layer),
            "layer": layer, **({} if decay else {"WD_exclude": True, "weight_decay": 0.0}),
        })
        group["params"].append(param)
        group["names"].append(name)
    return [groups[key] for key in sorted(groups)]
