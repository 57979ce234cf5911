"""``rasterized``: the image in quadrants, one as context and the other three as targets.

In the paper's masking ablation the image is split into four quadrants and one quadrant is the
context from which the other three are predicted ([0], Sec. 7, Table 6: three targets, context
ratio 0.25). The context quadrant is drawn per image (or fixed by ``context_quadrant``);
the targets are the other three in quadrant order, so ``targets`` is (3, B, N / 4).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from typing import Literal

import torch
from jepa_kit.maskers import Masker, MaskerConfig, Masks
from pydantic import Field

from jepa_kit_maskers._grid import GRID_SOURCE

#: For each context quadrant, the three target quadrants.
_OTHERS = torch.tensor([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


def quadrants(grid: tuple[int, int]) -> torch.Tensor:
    """(4, N / 4) patch indices of the top-left, top-right, bottom-left, bottom-right quadrants."""
    rows, cols = grid
    index = torch.arange(rows * cols).view(rows, cols)
    hr, hc = rows // 2, cols // 2
    parts = [index[:hr, :hc], index[:hr, hc:], index[hr:, :hc], index[hr:, hc:]]
    return torch.stack([p.reshape(-1) for p in parts])  # each row ascending (row-major)


class RasterizedMasker(Masker):
    """One quadrant as context, the three others as three targets."""

    class Config(MaskerConfig):
        kind: Literal["rasterized"] = "rasterized"
        context_quadrant: int | None = Field(
            None, ge=0, le=3, description="Quadrant used as context (0 top-left, 1 top-right, "
            "2 bottom-left, 3 bottom-right); None draws one per image."
        )

        def check_grid(self, grid: tuple[int, int]) -> None:
            if grid[0] % 2 or grid[1] % 2:
                raise ValueError(
                    f"masker.kind='rasterized' splits {GRID_SOURCE} into four equal quadrants, "
                    f"so both sides must be even; got {grid[0]}x{grid[1]}: change data.img_size "
                    f"or encoder.patch_size"
                )

    def __init__(self, config: Config, *, grid: tuple[int, int]) -> None:
        config.check_grid(grid)
        self.config = config
        self.grid = (int(grid[0]), int(grid[1]))
        self.quadrants = quadrants(self.grid)

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        fixed = self.config.context_quadrant
        if fixed is None:
            which = torch.randint(0, 4, (batch_size,), generator=generator)
        else:
            which = torch.full((batch_size,), fixed, dtype=torch.int64)
        context = self.quadrants[which]  # (B, N/4)
        targets = self.quadrants[_OTHERS[which]]  # (B, 3, N/4)
        return Masks(context=context, targets=targets.transpose(0, 1).contiguous())
