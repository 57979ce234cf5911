"""Block sizes: the reference's first 50 steps exactly, and the exact set of reachable sizes."""

from __future__ import annotations

import pytest
import torch

import jepa_kit.maskers
from jepa_kit.maskers import blocks
from jepa_kit.maskers.multiblock import MultiBlockMasker
from tests.maskers.helpers import RUNS, fixture_masker


@pytest.mark.parametrize("name", sorted(RUNS))
def test_first_50_steps_block_sizes_match_the_reference_exactly(name: str) -> None:
    run = RUNS[name]
    masker = fixture_masker(run)
    unrelated = torch.Generator().manual_seed(12345)  # reference sizes ignore the generator
    for row in run["first_steps"]:
        step = row["step"]
        g = torch.Generator().manual_seed(row["generator_seed"])
        assert float(torch.rand(1, generator=g)) == row["target_u"]
        assert float(torch.rand(1, generator=g)) == row["context_u"]
        target, context = masker.block_sizes(step, unrelated)
        assert list(target) == row["target_hw"], f"step {step}"
        assert list(context) == row["context_hw"], f"step {step}"
        assert target[0] * target[1] == row["target_len"]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_reachable_sizes_are_exactly_the_sizes_the_reference_draws(name: str) -> None:
    run = RUNS[name]
    cfg = run["config"]
    grid = tuple(cfg["grid_hw"])
    limit = (grid[0] - 1, grid[1] - 1)
    targets = blocks.reachable_sizes(grid, tuple(cfg["pred_mask_scale"]),
                                     tuple(cfg["aspect_ratio"]), limit, True)
    contexts = blocks.reachable_sizes(grid, tuple(cfg["enc_mask_scale"]), (1.0, 1.0), limit, True)
    fmt = {f"{h}x{w}" for h, w in targets}
    assert set(run["target_block_size_counts"]) <= fmt
    assert {f"{h}x{w}" for h, w in contexts} >= set(run["context_block_size_counts"])
    # And nothing more than 3000 steps actually draw (the enumeration is exact, not a bound).
    masker = fixture_masker(run)
    g = torch.Generator()
    drawn = {masker.block_sizes(step, g) for step in range(3000)}
    assert {t for t, _ in drawn} == targets
    assert {c for _, c in drawn} == contexts


def test_reachable_sizes_of_independent_draws_cover_uniform_mode() -> None:
    grid = (14, 14)
    masker = MultiBlockMasker(MultiBlockMasker.Config(mode="uniform"), grid=grid)
    g = torch.Generator().manual_seed(0)
    drawn = {masker.block_sizes(0, g) for _ in range(4000)}
    targets = blocks.reachable_sizes(grid, (0.15, 0.2), (0.75, 1.5), grid, False, 1)
    assert {t for t, _ in drawn} == targets
    assert {c for _, c in drawn} == {(13, 13), (14, 14)}  # the full grid is a valid context
    coupled = blocks.reachable_sizes(grid, (0.15, 0.2), (0.75, 1.5), grid, True, 1)
    assert coupled < targets  # one shared draw reaches only some of the shapes


def test_shape_rounds_half_to_even_caps_and_floors() -> None:
    assert blocks.shape(25, 0.25, (10, 10)) == (2, 10)  # sqrt(6.25) = 2.5 -> 2, as Python
    assert blocks.shape(49, 1.0, (6, 9)) == (6, 7)  # capped
    assert blocks.shape(0, 1.0, (6, 6)) == (0, 0)  # the reference's empty block
    assert blocks.shape(3, 0.05, (9, 9)) == (0, 8)
    assert blocks.shape(3, 0.05, (9, 9), floor=1) == (1, 8)  # uniform mode's floor
    assert blocks.block_size(0.2, 1.5, (8, 8), (7, 7)) == (4, 3)  # int(12.8) = 12 patches


def test_box_helpers_agree_with_loops() -> None:
    g = torch.Generator().manual_seed(0)
    grid, size = (5, 7), (2, 3)
    tops = torch.randint(0, 4, (3, 2), generator=g)
    lefts = torch.randint(0, 5, (3, 2), generator=g)
    count = blocks.cover(blocks.spans(size[0], grid[0])[tops],
                         blocks.spans(size[1], grid[1])[lefts])
    idx = blocks.box_indices(tops, lefts, size, grid[1])
    for b in range(3):
        expected = torch.zeros(grid)
        for m in range(2):
            t, left = int(tops[b, m]), int(lefts[b, m])
            expected[t : t + 2, left : left + 3] += 1
            cells = [r * grid[1] + c for r in range(t, t + 2) for c in range(left, left + 3)]
            assert idx[b, m].tolist() == cells
        assert torch.equal(count[b], expected)
    assert blocks.spans(2, 4).tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]


def test_cover_of_no_blocks_is_empty() -> None:
    rows, cols = torch.zeros(3, 0, 5), torch.zeros(3, 0, 7)
    assert torch.equal(blocks.cover(rows, cols), torch.zeros(3, 5, 7))


@pytest.mark.parametrize("name", ["block_size", "box_indices", "cover", "reachable_sizes", "spans"])
def test_helpers_are_exported_from_the_package(name: str) -> None:
    assert name in jepa_kit.maskers.__all__
    assert getattr(jepa_kit.maskers, name) is getattr(blocks, name)
