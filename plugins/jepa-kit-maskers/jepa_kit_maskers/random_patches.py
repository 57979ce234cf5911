"""``random``: random patches as targets and as context.

In the paper's masking ablation the target is one set of random patches and the context is the
rest of the image ([0], Sec. 7, Table 6: target Random(0.6), one target, context ratio 0.4).

Here the targets are M disjoint random sets of ``target_ratio`` of the grid each, and the
context is either every remaining patch (the paper's setting, ``context_ratio = None``) or a
random ``context_ratio`` of the grid drawn from the remaining patches. Every image in a batch
gets the same set sizes, so the index tensors are rectangular; the positions differ per image.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from typing import Literal

import torch
from jepa_kit.maskers import Masker, MaskerConfig, Masks
from pydantic import Field

from jepa_kit_maskers._grid import GRID_SOURCE


class RandomMasker(Masker):
    """M disjoint sets of random patches as targets; context drawn from the rest."""

    class Config(MaskerConfig):
        kind: Literal["random"] = "random"
        target_ratio: float = Field(
            0.6, gt=0, lt=1, description="Share of the grid's patches in each target set "
            "(paper: 0.6)."
        )
        num_targets: int = Field(
            1, ge=1, le=16, description="Target sets M per image, disjoint from each other "
            "(paper: 1)."
        )
        context_ratio: float | None = Field(
            None, gt=0, lt=1, description="Share of the grid in the context, drawn from the "
            "patches outside every target; None keeps all of them (paper: the complement)."
        )

        def sizes(self, grid: tuple[int, int]) -> tuple[int, int]:
            """(context length Kc, target length Kt) on ``grid``; not checked."""
            n = grid[0] * grid[1]
            kt = round(self.target_ratio * n)
            rest = n - self.num_targets * kt
            kc = rest if self.context_ratio is None else round(self.context_ratio * n)
            return kc, kt

        def check_grid(self, grid: tuple[int, int]) -> None:
            n = grid[0] * grid[1]
            kc, kt = self.sizes(grid)
            if kt < 1:
                raise ValueError(
                    f"masker.target_ratio={self.target_ratio} gives empty targets on the "
                    f"{grid[0]}x{grid[1]} grid ({n} patches); raise masker.target_ratio"
                )
            rest = n - self.num_targets * kt
            if rest < 1:
                raise ValueError(
                    f"masker.num_targets={self.num_targets} x masker.target_ratio="
                    f"{self.target_ratio} ({kt} patches each) covers {self.num_targets * kt} of "
                    f"the {n} patches of {GRID_SOURCE} {grid[0]}x{grid[1]}, leaving no context; "
                    f"lower masker.num_targets or masker.target_ratio"
                )
            if kc < 1 or kc > rest:
                raise ValueError(
                    f"masker.context_ratio={self.context_ratio} asks for {kc} context patches, but"
                    f" {rest} of the {n} patches lie outside the targets; pick a context_ratio "
                    f"in (0, {rest / n:.3f}] or lower masker.target_ratio"
                )

    def __init__(self, config: Config, *, grid: tuple[int, int]) -> None:
        config.check_grid(grid)
        self.config = config
        self.grid = (int(grid[0]), int(grid[1]))
        self.num_patches = self.grid[0] * self.grid[1]
        self.context_len, self.target_len = config.sizes(self.grid)

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        # No schedule: the masks depend on the generator only, which the loader seeds per step.
        b, m, kt = batch_size, self.config.num_targets, self.target_len
        order = torch.rand(b, self.num_patches, generator=generator).argsort(dim=1)  # (B, N)
        targets = order[:, : m * kt].view(b, m, kt).sort(dim=2).values  # (B, M, Kt)
        context = order[:, m * kt : m * kt + self.context_len].sort(dim=1).values  # (B, Kc)
        return Masks(context=context, targets=targets.transpose(0, 1).contiguous())
