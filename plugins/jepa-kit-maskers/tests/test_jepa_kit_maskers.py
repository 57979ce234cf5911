"""The three ablation maskers: the jepa-kit contract, their geometry, and grid checks."""

from __future__ import annotations

import pytest
import torch
from jepa_kit.maskers import Masker, Masks
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
