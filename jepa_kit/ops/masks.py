"""Index gymnastics on token tensors, shared by encoders, predictors and the trainer."""

from __future__ import annotations

import torch


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Select tokens per sample: ``x`` (B, N, D), ``idx`` (B, K) int64 -> (B, K, D)."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def apply_masks(x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Gather ``x`` (B, N, D) with M index sets ``masks`` (M, B, K) -> (M * B, K, D).

    Mask-major, as the reference ``apply_masks``: row ``i * B + b`` is sample b under mask i.
    """
    m, b, k = masks.shape
    rows = torch.arange(b, device=x.device).view(1, b, 1)
    # Advanced indexing gathers straight from x instead of first tiling it M times.
    return x[rows, masks].reshape(m * b, k, x.shape[-1])


def repeat_batch(x: torch.Tensor, times: int) -> torch.Tensor:
    """Tile ``x`` (B, ...) ``times`` along the batch -> (times * B, ...), row ``j * B + b``."""
    return x.repeat(times, *([1] * (x.dim() - 1)))
