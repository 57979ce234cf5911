"""multiblock3d: the official V-JEPA sampler's sizes and statistics, and a mode without its bias."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from jepa_kit.data.loader import Batch
from jepa_kit.maskers.base import Masks
from jepa_kit.maskers.multiblock3d import MaskGenerator, MultiBlock3DMasker, MultiMasks

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vjepa_reference"
Config = MultiBlock3DMasker.Config


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_group(m: Masks, grid: tuple[int, ...], b: int) -> None:
    n = 1
    for g in grid:
        n *= g
    assert m.context.dtype == m.targets.dtype == torch.int64
    assert m.context.shape[0] == b and m.targets.shape[:2] == (1, b)
    for rows in (m.context, m.targets[0]):
        assert rows.shape[1] > 0
        assert bool(((rows >= 0) & (rows < n)).all())
        assert bool((rows.diff(dim=1) > 0).all())  # sorted, distinct
    taken = torch.zeros(b, n, dtype=torch.bool).scatter_(1, m.context, True)
    assert not bool(taken.gather(1, m.targets[0]).any())  # context and target disjoint


@pytest.mark.parametrize("mode", ["uniform", "reference"])
def test_every_generator_gives_valid_masks(mode: str) -> None:
    grid = (8, 14, 14)
    masker = MultiBlock3DMasker(Config(mode=mode), grid=grid)
    masks = masker.sample(6, step=3, generator=gen(0))
    assert isinstance(masks, MultiMasks) and masks.num_groups == 2
    groups = masks.groups()
    for m in groups:
        check_group(m, grid, 6)
    # Long-range masks (2 x 0.7) hide far more than short-range ones (8 x 0.15).
    assert groups[1].targets.shape[2] > groups[0].targets.shape[2]
    again = MultiBlock3DMasker(Config(mode=mode), grid=grid).sample(6, 3, gen(0))
    assert all(torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
               for a, b in zip(groups, again.groups(), strict=True))


def test_blocks_repeat_through_time() -> None:
    masker = MultiBlock3DMasker(Config(), grid=(4, 6, 6))
    for g in masker.config.generators:
        target = masker._draw(g, 8, 0, gen(1)).view(8, 4, 36)
        assert torch.equal(target, target[:, :1].expand_as(target))  # temporal scale 1.0
    short = MaskGenerator(num_blocks=1, spatial_scale=(0.3, 0.3), temporal_scale=(0.5, 0.5))
    target = masker._draw(short, 8, 0, gen(1)).view(8, 4, 36)
    assert bool((target.any(2).sum(1) == 2).all())  # a block spans int(4 * 0.5) tubelets


def test_reference_block_sizes_equal_the_official() -> None:
    record = json.loads((FIXTURES / "block_sizes.json").read_text())
    for setting in record["settings"]:
        g = MaskGenerator(spatial_scale=tuple(setting["spatial_scale"]),
                          temporal_scale=tuple(setting["temporal_scale"]),
                          aspect_ratio=tuple(setting["aspect_ratio"]))
        masker = MultiBlock3DMasker(Config(mode="reference", generators=[g]),
                                    grid=tuple(setting["grid"]))
        ours = [list(masker.block_size(g, step, gen(99))) for step in range(50)]
        assert ours == setting["sizes"], setting["grid"]


def per_frame(masker: MultiBlock3DMasker, batches: int, b: int, grid: tuple[int, ...]
              ) -> list[dict]:
    n = grid[0] * grid[1] * grid[2]
    out = [{"context": torch.zeros(grid[0], dtype=torch.float64), "klen": 0.0}
           for _ in masker.config.generators]
    for step in range(batches):
        for stats, m in zip(out, masker.sample(b, step, gen(step)).groups(), strict=True):
            hits = torch.zeros(b, n, dtype=torch.float64).scatter_(1, m.context, 1.0)
            stats["context"] += hits.view(b, *grid).mean((0, 2, 3)) / batches
            stats["klen"] += m.context.shape[1] / batches
    return out


def test_reference_mode_reproduces_the_official_statistics_and_uniform_removes_the_bias(
) -> None:
    official = json.loads((FIXTURES / "mask_stats.json").read_text())
    grid = tuple(official["grid"])
    ref = per_frame(MultiBlock3DMasker(Config(mode="reference"), grid=grid), 60, 16, grid)
    uni = per_frame(MultiBlock3DMasker(Config(), grid=grid), 60, 16, grid)
    for g, theirs in enumerate(official["generators"]):
        mean_len = sum(theirs["context_len"]) / len(theirs["context_len"])
        assert ref[g]["klen"] == pytest.approx(mean_len, rel=0.15)
        freq = torch.tensor(theirs["context_per_frame"])
        assert torch.allclose(ref[g]["context"].float(), freq, atol=0.06), (g, ref[g], freq)
        # The official cut keeps the first tokens: the last tubelet is context 10x less often.
        assert freq[0] > 10 * freq[-1]
        # Uniform: the same lengths, every tubelet equally often context.
        flat = uni[g]["context"]
        assert uni[g]["klen"] == pytest.approx(mean_len, rel=0.15)
        assert float(flat.max() / flat.min()) < 1.15


def test_configs_that_cannot_leave_context_are_refused() -> None:
    whole = MaskGenerator(num_blocks=1, spatial_scale=(1.0, 1.0), aspect_ratio=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"masker.generators\[0\]: a block can cover the whole "
                       r"2x4x4 patch grid"):
        Config(generators=[whole]).check_grid((2, 4, 4))
    tiny = MaskGenerator(num_blocks=2, spatial_scale=(0.01, 0.01))
    with pytest.raises(ValueError, match="empty block on a 4x4 patch grid"):
        Config(mode="reference", generators=[tiny]).check_grid((2, 4, 4))
    Config(generators=[tiny]).check_grid((2, 4, 4))  # uniform: sides floored at 1
    with pytest.raises(ValueError, match=r"needs a \(T, H, W\) or \(H, W\) patch grid"):
        Config().check_grid((2, 2, 4, 4))
    with pytest.raises(ValueError, match="spatial_scale"):
        MaskGenerator(spatial_scale=(0.5, 0.2))


def test_no_hang_when_blocks_nearly_always_cover_everything() -> None:
    crowd = MaskGenerator(num_blocks=64, spatial_scale=(0.5, 0.5), aspect_ratio=(1.0, 1.0))
    masker = MultiBlock3DMasker(Config(generators=[crowd]), grid=(1, 2))
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="left no context in 32 placements"):
        masks = masker.sample(4, 0, gen(0))
    assert time.perf_counter() - start < 5
    check_group(masks.groups()[0], (1, 1, 2), 4)


def test_masks_travel_with_the_batch() -> None:
    masks = MultiBlock3DMasker(Config(), grid=(2, 4, 4)).sample(3, 0, gen(0))
    batch = Batch([torch.zeros(3, 3, 4, 32, 32)], torch.zeros(3, dtype=torch.long), masks, 0, 0)
    moved = batch.to("cpu").masks
    assert isinstance(moved, MultiMasks)
    assert [m.context.shape for m in moved.groups()] == [m.context.shape for m in masks.groups()]
    assert all(torch.equal(a.targets, b.targets)
               for a, b in zip(moved.groups(), masks.groups(), strict=True))
