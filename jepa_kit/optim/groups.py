"""Parameter groups: which tensors weight decay applies to, in the I-JEPA reference's order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def decays(name: str, param: torch.Tensor) -> bool:
    """Weight decay applies to every tensor but biases and 1-D tensors (LayerNorm weights).

    As in the reference, positional tables and the mask token count as decayed.
    """
    return "bias" not in name and param.ndim != 1


def param_groups(modules: Sequence[nn.Module]) -> list[dict[str, Any]]:
    """Decayed groups of each module first, then the excluded ones: the reference's order.

    Excluded groups carry ``WD_exclude=True`` and ``weight_decay=0``; empty groups are dropped.
    """
    decayed, excluded = [], []
    for module in modules:
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        decayed.append({"params": [p for n, p in named if decays(n, p)]})
        excluded.append(
            {"params": [p for n, p in named if not decays(n, p)], "WD_exclude": True,
             "weight_decay": 0.0}
        )
    return [g for g in decayed + excluded if g["params"]]
