"""``random_tube``: random spatial patches, masked through the whole clip (V-JEPA's ablation).

V-JEPA's masking ablation compares its 3-D multi-block masks with ``random-tube[0.9]``: a
random 90% of the spatial positions are targets in every frame (tubes through time) and the
context is the other 10% ([0], Sec. 4, Table 4; the official ``src/masks/random_tube.py``:
``num_keep_spatial = int(H * W * (1 - ratio))`` positions kept per clip, tiled over time).
Every clip gets its own positions; lengths are equal across the batch, so nothing is cut.

On a 2-D (H, W) grid it is the image version (one frame): random patches, one target set.

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from jepa_kit.maskers import Masker, MaskerConfig, Masks
from pydantic import Field

from jepa_kit_maskers._grid import GRID_SOURCE


class RandomTubeMasker(Masker):
    """``ratio`` of the spatial positions are targets in every tubelet; context the rest."""

    class Config(MaskerConfig):
        kind: Literal["random_tube"] = "random_tube"
        ratio: float = Field(
            0.9, gt=0, lt=1, description="Share of the spatial positions masked through time "
            "(V-JEPA's ablation: 0.9)."
        )

        def keep(self, grid: tuple[int, ...]) -> int:
            """Spatial positions kept as context, as the official ``int(H W (1 - ratio))``."""
            return int(grid[-2] * grid[-1] * (1.0 - self.ratio))

        def check_grid(self, grid: tuple[int, ...]) -> None:
            if len(grid) not in (2, 3):
                raise ValueError(f"masker.kind='random_tube' needs a (T, H, W) or (H, W) patch "
                                 f"grid, got {tuple(grid)}")
            spatial = grid[-2] * grid[-1]
            kept = self.keep(grid)
            if not 0 < kept < spatial:
                raise ValueError(
                    f"masker.ratio={self.ratio} keeps {kept} of the {spatial} spatial positions "
                    f"of {GRID_SOURCE} {'x'.join(map(str, grid))}; it must keep at least one and "
                    f"mask at least one")

    def __init__(self, config: Config, *, grid: tuple[int, ...]) -> None:
        config.check_grid(grid)
        self.config = config
        self.grid = tuple(int(g) for g in grid)
        self.frames = self.grid[0] if len(self.grid) == 3 else 1
        self.spatial = self.grid[-2] * self.grid[-1]
        self.kept = config.keep(self.grid)

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        b, s = batch_size, self.spatial
        order = torch.rand(b, s, generator=generator).argsort(dim=1)  # (B, H*W)
        offsets = (torch.arange(self.frames) * s).view(1, -1, 1)  # every tubelet's first index

        def tubes(positions: torch.Tensor) -> torch.Tensor:  # (B, P) -> (B, T * P), ascending
            return (positions.sort(dim=1).values[:, None, :] + offsets).flatten(1)

        context = tubes(order[:, : self.kept])
        targets = tubes(order[:, self.kept:])
        assert context.shape[1] + targets.shape[1] == math.prod(self.grid)
        return Masks(context=context, targets=targets.unsqueeze(0))
