"""The class-stratified hold-out that probes select their settings on (never the val split)."""

from __future__ import annotations

import torch


def stratified_holdout(labels: torch.Tensor, fraction: float, seed: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fit_idx, holdout_idx)``: ``round(fraction * n_c)`` images of every class ``c`` held
    out (at least one when the class has two or more), chosen with a generator seeded ``seed``."""
    g = torch.Generator().manual_seed(seed)
    fit, held = [], []
    for c in torch.unique(labels).tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        k = min(max(round(fraction * idx.numel()), 1 if idx.numel() > 1 else 0),
                idx.numel() - 1)
        held.append(idx[:k])
        fit.append(idx[k:])
    return torch.cat(fit).sort().values, torch.cat(held).sort().values
