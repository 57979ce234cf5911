"""Mask preview: the sheet's size and colours, and coverage counted from a known masker."""

from __future__ import annotations

from typing import Literal

import torch

from jepa_kit.eval.preview import (
    CONTEXT_COLOUR,
    draw_masks,
    mask_coverage,
    sample_masks,
    sheet_size,
    target_colour,
)
from jepa_kit.maskers.base import Masker, MaskerConfig, Masks


class CornerMasker(Masker):
    """Context: the top-left 2x2 patches; one target: the bottom-right patch. Never random."""

    class Config(MaskerConfig):
        kind: Literal["corner_test"] = "corner_test"


    def __init__(self, config: MaskerConfig | None = None, *, grid: tuple[int, int]) -> None:
        self.grid = grid

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        w = self.grid[1]
        context = torch.tensor([0, 1, w, w + 1]).expand(batch_size, 4)
        last = self.grid[0] * w - 1
        return Masks(context.clone(), torch.full((1, batch_size, 1), last))


def test_sheet_size_and_colours() -> None:
    grid = (4, 4)
    masker = CornerMasker(grid=grid)
    images = torch.zeros(5, 3, 32, 32)  # normalised zeros: the ImageNet mean colour
    sheet = draw_masks(images, sample_masks(masker, 5, step=0, seed=0), grid, cols=3)
    assert sheet.size == sheet_size(5, 32, cols=3)
    assert sheet.size == (3 * 128 + 4 * 4, 2 * 128 + 3 * 4 + 16)
    tile = 128 // 4  # one patch on a 128 px tile
    context_px = sheet.getpixel((4 + tile // 2, 4 + tile // 2))
    target_px = sheet.getpixel((4 + 3 * tile + tile // 2, 4 + 3 * tile + tile // 2))
    dimmed_px = sheet.getpixel((4 + 2 * tile + tile // 2, 4 + tile // 2))
    assert context_px[2] > context_px[0]  # tinted blue
    assert target_px[0] > target_px[2]  # tinted orange (target 1)
    assert sum(dimmed_px) < sum(context_px)  # neither context nor target: darkened
    assert CONTEXT_COLOUR != target_colour(0)


def test_coverage_of_the_batches_a_run_would_sample() -> None:
    cov = mask_coverage(CornerMasker(grid=(4, 4)), (4, 4), batches=3, batch_size=5)
    assert cov.samples == 15 and cov.context_len == 4 and cov.target_len == 1
    assert cov.overlap == 0.0
    expect = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(cov.rows["context"], expect)
    torch.testing.assert_close(cov.cols["context"], expect)
    corner = torch.tensor([0.0, 0.0, 0.0, 0.25], dtype=torch.float64)
    torch.testing.assert_close(cov.rows["target_union"], corner)
