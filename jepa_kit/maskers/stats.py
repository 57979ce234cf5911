"""Where masks fall on average: per-row and per-column frequencies and mean lengths.

A masker's spatial biases show up as slopes in these profiles. The reference multi-block
collator, for instance, never puts a block on the last row or column, and its truncation to the
batch's shortest context keeps the first indices, so its context frequency falls from the top
row to the bottom one. The definitions follow the reference fixture
(``tests/fixtures/ijepa_reference/multiblock_stats.json``, ``fields.coverage``): ``row[r]`` is
the share of (sample, column) pairs whose patch (r, c) is in the set, ``col[c]`` likewise over
rows.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from jepa_kit.maskers.base import Masks

#: The sets profiled: the collated context, the union of a sample's target blocks, and the
#: target blocks one at a time (average membership over blocks = expected multiplicity / M).
SETS = ("context", "target_union", "target_per_block")


def membership(indices: torch.Tensor, num_patches: int) -> torch.Tensor:
    """Index rows (..., K) -> boolean (..., N) with True at each listed patch."""
    out = torch.zeros(*indices.shape[:-1], num_patches, dtype=torch.bool)
    return out.scatter_(-1, indices, True)


def profiles(member: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (H,) and per-column (W,) frequency of (..., H * W) memberships (bool or float),
    averaged over every leading dimension."""
    cells = member.reshape(-1, *grid).to(torch.float64).mean(0)  # (H, W)
    return cells.mean(1), cells.mean(0)


@dataclass(frozen=True)
class MaskCoverage:
    """Coverage over ``batches`` batches (``samples`` images) on ``grid``.

    ``rows[name]`` (H,) and ``cols[name]`` (W,) float64 for each name in ``SETS``;
    ``context_len`` and ``target_len`` are mean lengths per batch (Kc and Kt);
    ``num_targets`` the mean number of target blocks; ``overlap`` the share of context indices
    that lie in one of the same sample's target blocks (0 for disjoint masks).
    """

    grid: tuple[int, int]
    batches: int
    samples: int
    rows: dict[str, torch.Tensor]
    cols: dict[str, torch.Tensor]
    context_len: float
    target_len: float
    num_targets: float
    overlap: float


def coverage(masks_iter: Iterable[Masks], grid: tuple[int, int]) -> MaskCoverage:
    """Accumulate ``MaskCoverage`` over batches of masks (any batch sizes)."""
    n = grid[0] * grid[1]
    rows = {name: torch.zeros(grid[0], dtype=torch.float64) for name in SETS}
    cols = {name: torch.zeros(grid[1], dtype=torch.float64) for name in SETS}
    batches = samples = 0
    context_len = target_len = num_targets = 0.0
    overlapping = context_total = 0
    for masks in masks_iter:
        b = masks.context.shape[0]
        context = membership(masks.context, n)  # (B, N)
        blocks = membership(masks.targets, n)  # (M, B, N)
        union = blocks.any(0)
        for name, member in (("context", context), ("target_union", union),
                             ("target_per_block", blocks.to(torch.float64).mean(0))):
            row, col = profiles(member, grid)
            rows[name] += row * b
            cols[name] += col * b
        overlapping += int((context & union).sum())
        context_total += masks.context.numel()
        batches += 1
        samples += b
        context_len += masks.context.shape[1]
        target_len += masks.targets.shape[2]
        num_targets += masks.targets.shape[0]
    if batches == 0:
        raise ValueError("coverage() needs at least one batch of masks")
    return MaskCoverage(
        grid=grid, batches=batches, samples=samples,
        rows={k: v / samples for k, v in rows.items()},
        cols={k: v / samples for k, v in cols.items()},
        context_len=context_len / batches, target_len=target_len / batches,
        num_targets=num_targets / batches, overlap=overlapping / max(context_total, 1),
    )
