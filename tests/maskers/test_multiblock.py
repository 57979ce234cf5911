"""The multi-block masker: contract, uniform mode's unbiased coverage, config errors, bounds."""

from __future__ import annotations

import time
import warnings

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.maskers.multiblock import MultiBlockMasker
from jepa_kit.maskers.stats import coverage, membership
from jepa_kit.testing.maskers import check_masker, check_masks

Config = MultiBlockMasker.Config
MODES = ("reference", "uniform")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("grid", "min_keep"), [((14, 14), 10), ((8, 8), 4), ((16, 16), 10),
                                                ((6, 11), 4), ((28, 28), 10)])
def test_masks_follow_the_contract(mode: str, grid: tuple[int, int], min_keep: int) -> None:
    masker = MultiBlockMasker(Config(mode=mode, min_keep=min_keep), grid=grid)
    for step in range(12):
        masks = masker.sample(16, step, _gen(step))
        # ints in range, sorted, distinct, (B, Kc) / (M, B, Kt), no context patch in a target
        check_masks(masks, grid=grid, batch_size=16)
        assert masks.num_targets == 4


@pytest.mark.parametrize("mode", MODES)
def test_conformance_checks(mode: str) -> None:
    check_masker(MultiBlockMasker, Config(mode=mode, min_keep=4), grid=(8, 8))
    check_masker(MultiBlockMasker, Config(mode=mode), grid=(14, 14), batch_size=32)


@pytest.mark.parametrize("mode", MODES)
def test_contexts_are_cut_to_the_batch_minimum(mode: str) -> None:
    masker = MultiBlockMasker(Config(mode=mode), grid=(14, 14))
    g = _gen(3)
    draw = masker.draw(64, 5, g)
    masks = masker.collate(draw, g)
    lengths = draw.context.sum(1)
    assert masks.context.shape == (64, int(lengths.min()))
    kept = membership(masks.context, 196)
    assert not bool((kept & ~draw.context).any())  # a subset of each sample's own context
    first = torch.stack([row.nonzero().flatten()[: masks.context.shape[1]]
                         for row in draw.context])
    if mode == "reference":
        assert torch.equal(masks.context, first)  # the smallest indices, as the reference
    else:
        assert not torch.equal(masks.context, first)  # a random subset instead
    assert torch.equal(masks.targets, draw.targets.transpose(0, 1))
    assert masks.targets.shape == (4, 64, draw.target_size[0] * draw.target_size[1])


@pytest.mark.parametrize("mode", MODES)
def test_same_step_and_seed_same_masks_other_seed_other_masks(mode: str) -> None:
    a = MultiBlockMasker(Config(mode=mode), grid=(14, 14))
    b = MultiBlockMasker(Config(mode=mode), grid=(14, 14))
    m1, m2 = a.sample(32, 7, _gen(1)), b.sample(32, 7, _gen(1))
    assert torch.equal(m1.context, m2.context) and torch.equal(m1.targets, m2.targets)
    m3 = a.sample(32, 7, _gen(2))
    assert not torch.equal(m1.targets, m3.targets)
    if mode == "reference":  # sizes come from the step alone
        assert a.block_sizes(7, _gen(1)) == a.block_sizes(7, _gen(2))
        assert m1.targets.shape == m3.targets.shape


def test_uniform_mode_covers_the_whole_grid_without_a_slope() -> None:
    grid = (14, 14)
    masker = MultiBlockMasker(Config(mode="uniform"), grid=grid)
    g = _gen(0)
    cov = coverage((masker.sample(64, s, g) for s in range(150)), grid)
    for name in ("context", "target_union", "target_per_block"):
        for profile in (cov.rows[name], cov.cols[name]):
            assert float(profile[-1]) > 0 and float(profile[0]) > 0
            # Mirror symmetric (no top-left pinning, no first-index truncation): 9600 samples
            # give a standard error below 0.006 per entry, so 0.03 is 5 of them.
            assert torch.allclose(profile, profile.flip(0), atol=0.03), (name, profile)
    # Context is least frequent where targets pile up (the middle), never at the bottom.
    rows = cov.rows["context"]
    assert float(rows[-1]) > 0.3 and float(rows[-1]) > float(rows[6])
    assert cov.overlap == 0.0


def test_reference_mode_context_is_pinned_top_left_on_14x14() -> None:
    masker = MultiBlockMasker(Config(mode="reference"), grid=(14, 14))
    g = _gen(0)
    for step in range(5):
        draw = masker.draw(8, step, g)
        block = draw.context.view(8, 14, 14)
        assert draw.context_size == (13, 13)
        assert not bool(block[:, 13].any() or block[:, :, 13].any())


def test_uniform_context_may_be_the_whole_grid_and_takes_every_offset() -> None:
    masker = MultiBlockMasker(Config(mode="uniform", allow_overlap=True), grid=(14, 14))
    g = _gen(0)
    seen: set[tuple[int, int]] = set()
    for step in range(60):
        draw = masker.draw(16, step, g)
        cells = draw.context.view(16, 14, 14)
        for sample in cells:
            r, c = sample.any(1).nonzero(), sample.any(0).nonzero()
            seen.add((int(r[0]), int(c[0])) if draw.context_size == (13, 13) else (-1, -1))
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1), (-1, -1)}  # 4 offsets of 13x13, and 14x14


def test_allow_overlap_keeps_the_whole_context_block() -> None:
    masker = MultiBlockMasker(Config(mode="reference", allow_overlap=True), grid=(14, 14))
    masks = masker.sample(32, 0, _gen(0))
    assert masks.context.shape == (32, 169)
    check_masks(masks, grid=(14, 14), batch_size=32, allow_overlap=True)
    assert coverage([masks], (14, 14)).overlap > 0


@pytest.mark.parametrize(("field", "value", "key"), [
    ("target_scale", (0.3, 0.2), "masker.target_scale"),
    ("context_scale", (0.0, 0.5), "masker.context_scale"),
    ("context_scale", (0.5, 1.5), "masker.context_scale"),
    ("target_aspect_ratio", (2.0, 1.0), "masker.target_aspect_ratio"),
    ("num_targets", 0, "num_targets"),
    ("min_keep", 0, "min_keep"),
    ("mode", "random", "mode"),
    ("min_kep", 3, "min_kep"),
])
def test_invalid_options_are_named(field: str, value: object, key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        Config(**{field: value})


@pytest.mark.parametrize(("options", "grid", "needles"), [
    # 64 px / patch 8: targets of 9 or 12 patches; the reference hangs on the 3x3 batches.
    ({"mode": "reference"}, (8, 8),
     ["masker.min_keep=10", "masker.target_scale=(0.15, 0.2)", "9 to 12 patches",
      "lower masker.min_keep to 8"]),
    ({"mode": "uniform"}, (8, 8), ["masker.min_keep=10", "8 to 12 patches"]),
    ({"mode": "uniform", "min_keep": 1}, (2, 2),
     ["can never be satisfied", "2x2 patch grid", "has 1 patch;", "raise masker.target_scale"]),
    ({"mode": "reference", "min_keep": 1}, (1, 9), ["masker.mode='reference'", "1x9"]),
    # Thin blocks: the reference rounds their height to 0, an empty block it waits on forever.
    ({"mode": "reference", "min_keep": 1, "target_scale": (0.01, 0.02),
      "target_aspect_ratio": (0.01, 0.02)}, (14, 14), ["largest target block", "has 0 patches;"]),
    ({"context_scale": (0.02, 0.03)}, (14, 14),
     ["masker.min_keep=10 can never be satisfied", "largest context block",
      "masker.context_scale=(0.02, 0.03)", "has 4 patches"]),
])
def test_infeasible_configs_are_refused_naming_the_keys(options: dict, grid: tuple[int, int],
                                                        needles: list[str]) -> None:
    config = Config(**options)
    with pytest.raises(ValueError) as info:
        config.check_grid(grid)
    for needle in needles:
        assert needle in str(info.value)
    with pytest.raises(ValueError):
        MultiBlockMasker(config, grid=grid)


def test_feasible_shipped_settings_are_accepted() -> None:
    Config(mode="reference").check_grid((14, 14))
    Config(mode="reference").check_grid((16, 16))
    Config(mode="reference").check_grid((28, 28))
    Config(mode="reference", min_keep=4).check_grid((8, 8))
    Config(mode="uniform", min_keep=4).check_grid((8, 8))
    Config(mode="uniform").check_grid((14, 14))
    Config(mode="uniform").check_grid((64, 64))
    # uniform mode floors sides at 1, so the thin blocks above become 1 x 7..14 rows
    Config(mode="uniform", min_keep=1, target_scale=(0.01, 0.02),
           target_aspect_ratio=(0.01, 0.02)).check_grid((14, 14))


@pytest.mark.parametrize(("mode", "grid", "options"), [
    ("uniform", (2, 2), {"target_scale": (0.75, 0.75), "context_scale": (1.0, 1.0)}),
    ("uniform", (4, 4), {"target_scale": (0.25, 0.3)}),
    ("reference", (4, 4), {"target_scale": (0.25, 0.3)}),
    ("reference", (3, 3), {"target_scale": (0.3, 0.5), "num_targets": 8}),
])
def test_tiny_grids_terminate_by_relaxing_like_the_reference(
        mode: str, grid: tuple[int, int], options: dict) -> None:
    masker = MultiBlockMasker(Config(mode=mode, min_keep=1, **options), grid=grid)
    start, relaxed = time.perf_counter(), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the relaxation warns, as the reference does
        for step in range(100):
            draw = masker.draw(32, step, _gen(step))
            masks = masker.collate(draw, _gen(step))
            check_masks(masks, grid=grid, batch_size=32, allow_overlap=True)
            relaxed += int((draw.relaxed > 0).sum())
            # Only relaxed samples may overlap their targets.
            tgt = membership(draw.targets, grid[0] * grid[1]).any(1)
            assert not bool((draw.context & tgt)[draw.relaxed == 0].any())
            assert bool((draw.context.sum(1) > 1).all())  # every context keeps > min_keep
    assert relaxed > 0  # the fallback path ran
    assert time.perf_counter() - start < 10


def test_relaxation_warns() -> None:
    masker = MultiBlockMasker(Config(mode="uniform", min_keep=1, target_scale=(0.75, 0.75),
                                     context_scale=(1.0, 1.0)), grid=(2, 2))
    with pytest.warns(UserWarning, match="masker.min_keep=1"):
        masker.sample(8, 0, _gen(0))


def test_masker_keeps_its_own_copy_of_the_checked_config() -> None:
    config = Config(min_keep=4)
    masker = MultiBlockMasker(config, grid=(8, 8))
    config.min_keep = 100  # validated field by field, but never re-checked against the grid
    assert masker.config.min_keep == 4
    check_masks(masker.sample(8, 0, _gen(0)), grid=(8, 8), batch_size=8)
