"""Index helpers shared by the maskers: complements and error wording."""

from __future__ import annotations

import torch

#: Where a masker's grid comes from, for error messages that name recipe keys.
GRID_SOURCE = "the patch grid (data.img_size / encoder.patch_size)"


def complement(indices: torch.Tensor, num_patches: int) -> torch.Tensor:
    """Patches not in ``indices`` (B, K) -> (B, N - K), ascending; rows of ``indices`` distinct."""
    b = indices.shape[0]
    keep = torch.ones(b, num_patches, dtype=torch.bool)
    keep.scatter_(1, indices, False)
    # Boolean selection walks each row in order, so the rows come out sorted; every row drops
    # the same number of patches, which makes the reshape valid.
    return torch.arange(num_patches).expand(b, num_patches)[keep].view(b, -1)


def ordered_range(value: tuple[float, float], key: str, low: float, high: float) -> None:
    """Raise ``ValueError`` naming ``key`` unless ``low < value[0] <= value[1] <= high``."""
    lo, hi = value
    if not (low < lo <= hi <= high):
        raise ValueError(f"{key}={list(value)} must be an ordered pair in ({low}, {high}]")
