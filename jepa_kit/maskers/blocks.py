"""Rectangular blocks on a patch grid: their sizes, the sizes a config can reach, box sums.

Pure helpers behind the multi-block masker. A block size follows I-JEPA's recipe ([0], Sec. 3):
a scale ``s`` (share of the grid) and an aspect ratio ``a`` give ``n = int(H * W * s)`` patches
and ``h = round(sqrt(n * a))``, ``w = round(sqrt(n / a))``, capped to fit the grid. The
reference code draws ``s`` and ``a`` from one shared uniform number and caps at ``H - 1`` x
``W - 1``; ``block_size`` takes the two numbers and the cap so both variants share it.

``reachable_sizes`` lists every size the draw can give, exactly (not by sampling), so a config
that can never satisfy ``min_keep`` is refused when a recipe is validated instead of looping or
silently degrading in a data-loader worker.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

#: The largest float32 ``torch.rand`` returns (draws are multiples of 2**-24 in [0, 1)).
U_MAX = 1.0 - 2.0**-24


def block_size(scale: float, ratio: float, grid: tuple[int, int],
               limit: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` of a block covering share ``scale`` of ``grid`` with aspect ratio ``ratio``.

    Same operations and order as the reference ``_sample_block_size``: ``int`` truncation of
    the patch count, then ``shape``.
    """
    return shape(int(grid[0] * grid[1] * scale), ratio, limit)


def shape(n: int, ratio: float, limit: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` of about ``n`` patches at aspect ratio ``ratio`` (height / width).

    Python ``round`` (ties to even) as the reference, then the cap ``limit``. Sides are floored
    at 1: a 0-sized block has 0 <= min_keep patches, on which the reference loops forever, so
    the floor changes nothing where the reference terminates.
    """
    h = round(math.sqrt(n * ratio))
    w = round(math.sqrt(n / ratio))
    return max(1, min(h, limit[0])), max(1, min(w, limit[1]))


def lerp(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + u * (bounds[1] - bounds[0])


def _ratio_points(n: int, lo: float, hi: float) -> list[float]:
    # h = round(sqrt(n a)) and w = round(sqrt(n / a)) only change where n a or n / a crosses a
    # half-integer square; evaluating at those points, the ends and the midpoints between them
    # visits every (h, w) the interval [lo, hi] can give.
    points = {lo, hi}
    if n > 0:
        for k in range(max(0, math.floor(math.sqrt(n * lo)) - 1), math.ceil(math.sqrt(n * hi))):
            points.add((k + 0.5) ** 2 / n)
        for k in range(max(0, math.floor(math.sqrt(n / hi)) - 1), math.ceil(math.sqrt(n / lo))):
            points.add(n / (k + 0.5) ** 2)
    ordered = sorted(a for a in points if lo <= a <= hi)
    return ordered + [(x + y) / 2 for x, y in zip(ordered, ordered[1:])]


@functools.lru_cache(maxsize=256)
def reachable_sizes(grid: tuple[int, int], scale: tuple[float, float],
                    ratio: tuple[float, float], limit: tuple[int, int],
                    coupled: bool) -> frozenset[tuple[int, int]]:
    """Every ``(h, w)`` that ``block_size`` gives for draws ``u`` in [0, U_MAX].

    ``coupled``: one draw sets both scale and ratio (the reference); otherwise they are drawn
    independently. Exact up to float ties at the breakpoints, where it may list a size that is
    hit with probability 0: a superset, so a config is never refused that could work.
    """
    cells = grid[0] * grid[1]
    n_lo, n_hi = int(cells * lerp(scale, 0.0)), int(cells * lerp(scale, U_MAX))
    sizes: set[tuple[int, int]] = set()
    for n in range(n_lo, n_hi + 1):
        lo, hi = lerp(ratio, 0.0), lerp(ratio, U_MAX)
        if coupled and scale[1] > scale[0]:
            # The draws u with int(cells * s(u)) == n form one interval; so do their ratios.
            span = scale[1] - scale[0]
            u0 = min(max((n / cells - scale[0]) / span, 0.0), U_MAX)
            u1 = min(max(((n + 1) / cells - scale[0]) / span, 0.0), U_MAX)
            lo, hi = lerp(ratio, u0), lerp(ratio, u1)
        sizes.update(shape(n, a, limit) for a in _ratio_points(n, lo, hi))
    return frozenset(sizes)


def box_masks(tops: torch.Tensor, lefts: torch.Tensor, size: tuple[int, int],
              grid: tuple[int, int]) -> torch.Tensor:
    """Boolean (..., H, W) masks of ``size`` blocks at ``tops``/``lefts`` (any shape ...)."""
    rows = torch.arange(grid[0])
    cols = torch.arange(grid[1])
    t, left = tops[..., None], lefts[..., None]
    in_rows = (rows >= t) & (rows < t + size[0])  # (..., H)
    in_cols = (cols >= left) & (cols < left + size[1])  # (..., W)
    return in_rows[..., :, None] & in_cols[..., None, :]


def box_indices(tops: torch.Tensor, lefts: torch.Tensor, size: tuple[int, int],
                width: int) -> torch.Tensor:
    """Row-major indices (..., h * w), ascending, of ``size`` blocks at ``tops``/``lefts``."""
    h, w = size
    di = torch.arange(h).repeat_interleave(w)
    dj = torch.arange(w).repeat(h)
    return (tops[..., None] + di) * width + lefts[..., None] + dj


def integral(masks: torch.Tensor) -> torch.Tensor:
    """Summed-area tables (B, (H + 1) * (W + 1)) of boolean (B, H, W) masks, flattened.

    Entry ``r * (W + 1) + c`` counts the cells above-left of (r, c), so any box count is four
    lookups: how every candidate context position is scored without building its mask.
    """
    sums = masks.to(torch.int32).cumsum(1).cumsum(2)
    return F.pad(sums, (1, 0, 1, 0)).flatten(1)


def box_sums(table: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor,
             size: tuple[int, int], width: int) -> torch.Tensor:
    """Cells inside ``size`` boxes: ``table`` (B, (H+1)(W+1)) from ``integral``, ``tops`` and
    ``lefts`` (B, P) or (P,) -> (B, P)."""
    stride = width + 1
    bottom, right = tops + size[0], lefts + size[1]
    corners = (bottom * stride + right, tops * stride + right, bottom * stride + lefts,
               tops * stride + lefts)
    if tops.dim() == 1:  # the same candidates for every sample: plain column indexing
        a, b, c, d = (table[:, i] for i in corners)
    else:
        a, b, c, d = (table.gather(1, i) for i in corners)
    return a - b - c + d
