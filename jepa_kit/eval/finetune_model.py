"""The fine-tuned classifier and its optimizer groups: layer-wise lr decay and the lr schedule.

The classifier is the encoder, an average pool of its patch tokens, a LayerNorm and a linear
head: MAE's ``global_pool`` variant ([0], App. A.2; its code's ``fc_norm``), the natural one
for encoders that return patch tokens only. The head starts near zero (truncated normal, std
2e-5, as MAE's fine-tuning code), so the first steps do not disturb the encoder.

Layer-wise lr decay (ELECTRA's, used by BEiT and MAE [0]): block ``i`` (1-based) of ``L``
trains at ``lr x decay^(L + 1 - i)``, the patch embedding and position tables at
``lr x decay^(L + 1)``, the final norm and the head at ``lr``. Blocks are found by parameter
name (``blocks.N.``), which both built-in encoders (``vit``, ``timm``) use.

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from jepa_kit.errors import UserError
from jepa_kit.optim.schedules import warmup_cosine
from jepa_kit.optim.stepper import set_values

_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
#: Parameters that sit before the first block (layer 0 of the decay).
_EMBEDDING = ("patch_embed", "pos_embed", "cls_token", "reg_token", "mask_token", "norm_pre")
#: Parameters MAE exempts from weight decay besides biases and norms.
_NO_DECAY = ("pos_embed", "cls_token", "reg_token", "dist_token", "mask_token")


class Classifier(nn.Module):
    """``encoder -> mean over patch tokens -> LayerNorm -> Linear``: (B, C, H, W) -> (B, K)."""

    def __init__(self, encoder: nn.Module, num_classes: int, *, seed: int = 0) -> None:
        super().__init__()
        # A target encoder comes frozen (it moves by EMA only); fine-tuning trains all of it.
        self.encoder = encoder.requires_grad_(True)
        dim = int(encoder.embed_dim)  # type: ignore[arg-type]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, num_classes))
            nn.init.trunc_normal_(self.head[1].weight, std=2e-5)
            nn.init.zeros_(self.head[1].bias)

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


def param_groups(model: Classifier, *, weight_decay: float, layer_decay: float,
                 encoder_kind: str = "?") -> list[dict[str, Any]]:
    """AdamW groups of ``model``'s trainable parameters, each with an ``lr_scale``.

    One group per (layer, decayed or not): weight matrices get ``weight_decay``; biases, norm
    weights (any 1-D tensor) and position / class tokens get none, as MAE.
    """
    depth = count_blocks(model.encoder)
    if depth == 0 and layer_decay < 1:
        raise UserError(
            f"--layer-decay {layer_decay}: the encoder (encoder.kind={encoder_kind!r}) has no "
            f"numbered blocks (parameters named blocks.N.*) to decay over; pass "
            f"--layer-decay 1 to fine-tune every layer at one lr")
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer = layer_id(name, depth)
        decay = param.ndim > 1 and not any(name.endswith(n) for n in _NO_DECAY)
        group = groups.setdefault((layer, decay), {
            "params": [], "names": [], "weight_decay": weight_decay if decay else 0.0,
            "lr_scale": layer_decay ** (depth + 1 - layer), "layer": layer,
        })
        group["params"].append(param)
        group["names"].append(name)
    return [groups[key] for key in sorted(groups)]


def lr_at(step: int, *, steps_per_epoch: int, epochs: int, warmup_epochs: float,
          peak: float, floor: float) -> float:
    """MAE's per-step schedule: linear warmup from 0, then half-cycle cosine to ``floor``,
    over fractional epochs (step ``step`` is epoch ``step / steps_per_epoch``)."""
    return warmup_cosine(step, warmup=warmup_epochs * steps_per_epoch,
                         total=epochs * steps_per_epoch, start=0.0, peak=peak, final=floor)


def apply_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's lr to ``lr x lr_scale``."""
    set_values(optimizer, lr, None)
