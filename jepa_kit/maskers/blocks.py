"""Rectangular blocks on a patch grid: their sizes, the sizes a config can reach, box sums.

Pure helpers behind the multi-block masker. A block size follows I-JEPA's recipe ([0], Sec. 3):
a scale ``s`` (share of the grid) and an aspect ratio ``a`` give ``n = int(H * W * s)`` patches
and ``h = round(sqrt(n * a))``, ``w = round(sqrt(n / a))``, capped to fit the grid. The
reference code draws ``s`` and ``a`` from one shared uniform number and caps at ``H - 1`` x
``W - 1``; ``block_size`` takes the two numbers and the cap so both variants share it.

``reachable_sizes`` lists every size the draw can give, exactly (not by sampling), so a config
that can never satisfy ``min_keep`` is refused when a recipe is validated instead of looping or
silently degrading in a data-loader worker.

``block_size``, ``box_indices``, ``spans``, ``cover`` and ``reachable_sizes`` are public and
exported from ``jepa_kit.maskers``, so a masker plugin can size and index its blocks
exactly as the built-in ``multiblock`` does (``jepa-kit-maskers``' ``block`` does).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import functools
import itertools
import math

import torch

#: The largest float32 ``torch.rand`` returns (draws are multiples of 2**-24 in [0, 1)).
U_MAX = 1.0 - 2.0**-24


def block_size(scale: float, ratio: float, grid: tuple[int, int], limit: tuple[int, int],
               floor: int = 0) -> tuple[int, int]:
    """``(h, w)`` of a block covering share ``scale`` of ``grid`` with aspect ratio ``ratio``.

    Same operations and order as the reference ``_sample_block_size``: ``int`` truncation of
    the patch count, then ``shape``.
    """
    return shape(int(grid[0] * grid[1] * scale), ratio, limit, floor)


def shape(n: int, ratio: float, limit: tuple[int, int], floor: int = 0) -> tuple[int, int]:
    """``(h, w)`` of about ``n`` patches at aspect ratio ``ratio`` (height / width).

    Python ``round`` (ties to even) as the reference, then the cap ``limit`` and the smallest
    side ``floor`` (the reference has none: a side may round to 0, an empty block).
    """
    h = round(math.sqrt(n * ratio))
    w = round(math.sqrt(n / ratio))
    return max(floor, min(h, limit[0])), max(floor, min(w, limit[1]))


def lerp(bounds: tuple[float, float], u: float) -> float:
    """``bounds[0] + u * (bounds[1] - bounds[0])``: a draw ``u`` in [0, 1) mapped to a range."""
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
    return ordered + [(x + y) / 2 for x, y in itertools.pairwise(ordered)]


@functools.lru_cache(maxsize=256)
def reachable_sizes(grid: tuple[int, int], scale: tuple[float, float],
                    ratio: tuple[float, float], limit: tuple[int, int], coupled: bool,
                    floor: int = 0) -> frozenset[tuple[int, int]]:
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
        sizes.update(shape(n, a, limit, floor) for a in _ratio_points(n, lo, hi))
    return frozenset(sizes)


@functools.lru_cache(maxsize=512)
def spans(length: int, extent: int) -> torch.Tensor:
    """float32 (extent - length + 1, extent): row ``t`` is 1 on cells [t, t + length).

    A block's cells are ``spans(h, H)[top]`` outer ``spans(w, W)[left]``, so unions and counts
    over blocks are small batched matmuls instead of per-block boolean masks.
    """
    cells = torch.arange(extent)
    starts = torch.arange(extent - length + 1)[:, None]
    return ((cells >= starts) & (cells < starts + length)).to(torch.float32)


def cover(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """How many blocks cover each cell: ``rows`` (B, M, H) and ``cols`` (B, M, W) span rows
    (from ``spans``) of M blocks per sample -> (B, H, W) float counts (0 when M is 0)."""
    return torch.bmm(rows.transpose(1, 2), cols)


def box_indices(tops: torch.Tensor, lefts: torch.Tensor, size: tuple[int, int],
                width: int) -> torch.Tensor:
    """Row-major indices (..., h * w), ascending, of ``size`` blocks at ``tops``/``lefts``."""
    h, w = size
    di = torch.arange(h).repeat_interleave(w)
    dj = torch.arange(w).repeat(h)
    return (tops[..., None] + di) * width + lefts[..., None] + dj
