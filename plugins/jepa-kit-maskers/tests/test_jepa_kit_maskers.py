"""The three ablation maskers: the jepa-kit contract, their geometry, and grid checks."""

from __future__ import annotations

import math

import pytest
import torch
from jepa_kit.maskers import Masker, Masks, block_size, box_indices
from jepa_kit.testing import check_component, check_masker

from jepa_kit_maskers import BlockMasker, RandomMasker, RasterizedMasker

GRIDS = [(8, 8), (14, 14), (4, 6)]


def sample(masker: Masker, batch: int = 5, seed: int = 0) -> Masks:
    return masker.sample(batch, 0, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("grid", GRIDS, ids=str)
@pytest.mark.parametrize("cls", [RandomMasker, BlockMasker, RasterizedMasker],
                         ids=lambda c: c.__name__)
def test_conforms(cls: type, grid: tuple[int, int]) -> None:
    check_masker(cls, grid=grid)


@pytest.mark.parametrize("name", ["random", "block", "rasterized"])
def test_registered_through_entry_points(name: str) -> None:
    check_component("masker", name)


def test_random_sizes_and_disjoint_targets() -> None:
    grid, n = (8, 8), 64
    masks = sample(RandomMasker(RandomMasker.Config(), grid=grid))
    assert masks.targets.shape == (1, 5, round(0.6 * n))
    assert masks.context.shape == (5, n - round(0.6 * n))  # the complement, as in the paper
    cfg = RandomMasker.Config(target_ratio=0.2, num_targets=3, context_ratio=0.25)
    masks = sample(RandomMasker(cfg, grid=grid))
    assert masks.targets.shape == (3, 5, 13) and masks.context.shape == (5, 16)
    everything = torch.cat([masks.context, *masks.targets], dim=1)
    assert all(len(set(row.tolist())) == row.numel() for row in everything)


def test_block_is_one_rectangle_and_context_its_complement() -> None:
    grid = (8, 8)
    masks = sample(BlockMasker(BlockMasker.Config(scale=(0.3, 0.6)), grid=grid), batch=6)
    assert masks.num_targets == 1
    for ctx, tgt in zip(masks.context, masks.targets[0], strict=True):
        rows, cols = tgt // grid[1], tgt % grid[1]
        h = int(rows.max() - rows.min()) + 1
        w = int(cols.max() - cols.min()) + 1
        assert h * w == tgt.numel()  # a full rectangle
        assert sorted(ctx.tolist() + tgt.tolist()) == list(range(64))


def test_block_is_jepa_kits_block_below_the_full_side() -> None:
    # The block's size and indices are the core's block_size (capped at H-1 x W-1, floored at 1)
    # and box_indices, for the masker's own draws: scale uniform, aspect ratio log-uniform.
    cfg = BlockMasker.Config(scale=(0.05, 0.6), aspect_ratio=(0.3, 3.0), min_keep=1)
    lo, hi = math.log(0.3), math.log(3.0)
    for grid in [(4, 6), (8, 8), (14, 14)]:
        masker = BlockMasker(cfg, grid=grid)
        for seed in range(10):
            u_scale, u_aspect = torch.rand(2, generator=torch.Generator().manual_seed(seed))
            size = block_size(0.05 + float(u_scale) * (0.6 - 0.05),
                              math.exp(lo + float(u_aspect) * (hi - lo)),
                              grid, (grid[0] - 1, grid[1] - 1), floor=1)
            target = sample(masker, seed=seed).targets[0]  # (B, h*w)
            tops, lefts = target[:, 0] // grid[1], target[:, 0] % grid[1]
            assert torch.equal(target, box_indices(tops, lefts, size, grid[1]))


def test_block_masks_keep_their_recorded_values() -> None:
    # Drawn before the masker used jepa-kit's block helpers; the switch moved no index.
    masks = sample(BlockMasker(BlockMasker.Config(scale=(0.3, 0.6)), grid=(4, 6)))
    assert masks.targets[0, :, 0].tolist() == [9, 1, 9, 7, 8]  # top-left cells
    assert masks.targets[0, 1].tolist() == [1, 2, 3, 7, 8, 9, 13, 14, 15]  # 3x3
    assert masks.context[1].tolist() == [0, 4, 5, 6, 10, 11, 12, 16, 17, 18, 19, 20, 21, 22, 23]
    one = sample(BlockMasker(BlockMasker.Config(), grid=(8, 8)), batch=1, seed=3)
    assert one.targets.shape == (1, 1, 42) and one.targets[0, 0, 0] == 9  # 6x7 at row 1, col 1


def test_rasterized_uses_quadrants() -> None:
    grid = (4, 6)
    masks = sample(RasterizedMasker(RasterizedMasker.Config(), grid=grid), batch=8)
    assert masks.targets.shape == (3, 8, 6) and masks.context.shape == (8, 6)
    top_left = [0, 1, 2, 6, 7, 8]
    fixed = sample(RasterizedMasker(RasterizedMasker.Config(context_quadrant=0), grid=grid))
    assert all(row.tolist() == top_left for row in fixed.context)
    assert fixed.targets[0, 0].tolist() == [3, 4, 5, 9, 10, 11]
    for b in range(8):
        parts = torch.cat([masks.context[b], *masks.targets[:, b]]).sort().values
        assert parts.tolist() == list(range(24))


def test_different_seeds_give_different_masks() -> None:
    for masker in (RandomMasker(RandomMasker.Config(), grid=(8, 8)),
                   BlockMasker(BlockMasker.Config(), grid=(8, 8)),
                   RasterizedMasker(RasterizedMasker.Config(), grid=(8, 8))):
        draws = {tuple(sample(masker, seed=s).context.flatten().tolist()) for s in range(6)}
        assert len(draws) > 1, type(masker).__name__


@pytest.mark.parametrize(("config", "grid", "keys"), [
    (RandomMasker.Config(target_ratio=0.6, num_targets=2), (8, 8), ["masker.num_targets"]),
    (RandomMasker.Config(target_ratio=0.01), (4, 4), ["masker.target_ratio"]),
    (RandomMasker.Config(target_ratio=0.5, context_ratio=0.6), (8, 8), ["masker.context_ratio"]),
    (BlockMasker.Config(scale=(0.9, 0.9), min_keep=20), (8, 8),
     ["masker.scale", "masker.min_keep"]),
    (BlockMasker.Config(), (1, 8), ["data.img_size"]),
    (RasterizedMasker.Config(), (7, 8), ["data.img_size", "encoder.patch_size"]),
], ids=["random-too-many", "random-empty", "random-context", "block-too-big", "block-thin",
        "rasterized-odd"])
def test_check_grid_names_the_keys(config: object, grid: tuple[int, int],
                                   keys: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        config.check_grid(grid)  # type: ignore[attr-defined]
    assert all(key in str(info.value) for key in keys), str(info.value)


def test_block_config_rejects_unordered_ranges() -> None:
    with pytest.raises(ValueError, match=r"masker\.scale"):
        BlockMasker.Config(scale=(0.7, 0.5))


def test_random_tube_conforms_and_is_registered() -> None:
    from jepa_kit_maskers import RandomTubeMasker

    check_masker(RandomTubeMasker, grid=(8, 8))
    check_component("masker", "random_tube")


def test_random_tubes_run_through_the_whole_clip() -> None:
    from jepa_kit_maskers import RandomTubeMasker

    grid = (4, 14, 14)
    masks = sample(RandomTubeMasker(RandomTubeMasker.Config(), grid=grid), batch=3)
    kept = int(196 * (1 - 0.9))  # the official int(H W (1 - ratio)): 19
    assert masks.context.shape == (3, 4 * kept) and masks.targets.shape == (1, 3, 4 * (196 - kept))
    for i in range(3):
        frames = masks.context[i].view(4, kept) % 196  # the same spatial positions every tubelet
        assert bool((frames == frames[:1]).all())
        both = torch.cat([masks.context[i], masks.targets[0, i]]).sort().values
        assert torch.equal(both, torch.arange(4 * 196))  # context and targets partition the clip
    assert not torch.equal(masks.context[0], masks.context[1])  # positions differ per clip
    with pytest.raises(ValueError, match=r"masker.ratio=0.999 keeps 0 of the 16 spatial "
                       r"positions"):
        RandomTubeMasker.Config(ratio=0.999).check_grid((2, 4, 4))
