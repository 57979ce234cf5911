"""``block``: one large target block; the context is everything else.

In the paper's masking ablation the target is a single image block and the context is the rest
of the image ([0], Sec. 7, Table 6: target Block(0.6), one target, context ratio 0.4).

The block's size is drawn once per batch, as the reference multi-block collator draws its
block sizes, so every image has the same number of target and context patches; its position is
drawn per image. Sizes are jepa-kit's ``block_size``, the reference's rule: area
``int(H * W * scale)``, ``h = round(sqrt(area * aspect))``, ``w = round(sqrt(area / aspect))``,
each kept below the grid side so that some context remains (and at least 1).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from jepa_kit.maskers import Masker, MaskerConfig, Masks, block_size, box_indices
from pydantic import Field, model_validator

from jepa_kit_maskers._grid import GRID_SOURCE, complement, ordered_range


def _block_size(grid: tuple[int, int], scale: float, aspect: float) -> tuple[int, int]:
    """(h, w) of a block covering about ``scale`` of ``grid`` with height/width ``aspect``."""
    # Below the full side (the reference's cap), and at least one patch.
    return block_size(scale, aspect, grid, (grid[0] - 1, grid[1] - 1), floor=1)


class BlockMasker(Masker):
    """A single rectangular target block per image, the context its complement."""

    class Config(MaskerConfig):
        kind: Literal["block"] = "block"
        scale: tuple[float, float] = Field(
            (0.6, 0.6), description="Range of the block's area as a share of the grid, drawn "
            "once per batch (paper: 0.6)."
        )
        aspect_ratio: tuple[float, float] = Field(
            (0.75, 1.5), description="Range of the block's height / width, drawn once per batch "
            "(the reference's target range)."
        )
        min_keep: int = Field(
            4, ge=1, le=4096, description="Fewest context patches any block may leave; "
            "check_grid refuses configs whose largest block leaves fewer."
        )

        @model_validator(mode="after")
        def _ranges(self) -> BlockMasker.Config:
            ordered_range(self.scale, "masker.scale", 0.0, 1.0)
            ordered_range(self.aspect_ratio, "masker.aspect_ratio", 0.0, 100.0)
            return self

        def check_grid(self, grid: tuple[int, int]) -> None:
            if min(grid) < 2:
                raise ValueError(
                    f"masker.kind='block' needs {GRID_SOURCE} to be at least 2x2, got "
                    f"{grid[0]}x{grid[1]}"
                )
            # h grows with the aspect ratio and w shrinks with it, so pairing the tallest h with
            # the widest w bounds every block this config can draw.
            h, _ = _block_size(grid, self.scale[1], self.aspect_ratio[1])
            _, w = _block_size(grid, self.scale[1], self.aspect_ratio[0])
            left = grid[0] * grid[1] - h * w
            if left < self.min_keep:
                raise ValueError(
                    f"masker.scale={list(self.scale)} with masker.aspect_ratio="
                    f"{list(self.aspect_ratio)} can draw a {h}x{w} block on {GRID_SOURCE} "
                    f"{grid[0]}x{grid[1]}, leaving {left} context patches < masker.min_keep="
                    f"{self.min_keep}; lower masker.scale or masker.min_keep"
                )

    def __init__(self, config: Config, *, grid: tuple[int, int]) -> None:
        config.check_grid(grid)
        self.config = config
        self.grid = (int(grid[0]), int(grid[1]))
        self.num_patches = self.grid[0] * self.grid[1]

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        c = self.config
        (rows, cols), b = self.grid, batch_size
        u_scale, u_aspect = torch.rand(2, generator=generator).tolist()
        scale = c.scale[0] + u_scale * (c.scale[1] - c.scale[0])
        lo, hi = math.log(c.aspect_ratio[0]), math.log(c.aspect_ratio[1])
        aspect = math.exp(lo + u_aspect * (hi - lo))  # log-uniform: tall and wide equally likely
        h, w = _block_size(self.grid, scale, aspect)
        top = torch.randint(0, rows - h + 1, (b,), generator=generator)
        left = torch.randint(0, cols - w + 1, (b,), generator=generator)
        target = box_indices(top, left, (h, w), cols)  # (B, h*w), row-major so ascending
        return Masks(context=complement(target, self.num_patches), targets=target.unsqueeze(0))
