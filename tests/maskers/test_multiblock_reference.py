"""``mode="reference"`` against the official collator's statistics (fixture ``multiblock_stats``).

Block sizes depend on the step alone, so over the same 300 steps every size statistic must match
exactly (block-size counts, K_tgt mean/min/max). Positions come from another RNG stream, so the
rest is compared as distributions:

Each statistic is a mean over 300 batches, and batches are independent (each draws its own
positions; its sizes are fixed by its step, the same in both runs). So the difference between
our mean and the reference's is approximately normal with standard deviation sqrt(2) * SE, SE
being the standard error estimated from our own 300 per-batch values (``std / sqrt(300)``). It
overestimates the spread of the difference, since the size-driven part of the batch-to-batch
variance is shared by both runs, so the test is conservative. We accept
|difference| <= 5 * sqrt(2) * SE (+ 1e-6 for the fixture's 6-decimal rounding): a faithful
implementation fails one such comparison with probability 5.7e-7, all ~600 of them below 4e-4.
A coverage entry with SE 0 (the never-touched last row and column) must match to 1e-6.

The same comparison run on ``mode="uniform"`` fails by a wide margin (``test_..._has_power``),
so the tolerance is not vacuous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import pytest
import torch

from jepa_kit.maskers.stats import coverage, profiles
from tests.maskers.helpers import RUNS, fixture_masker

Z = 5.0
ROUNDING = 1e-6
#: Fixture coverage set -> our per-batch profile name.
SETS = {"context_after_collation": "context", "context_before_truncation": "before",
        "target_union": "target_union", "target_per_block": "target_per_block"}


@dataclass
class Run:
    """Per-batch statistics of one run (300 batches): lengths, profiles, sizes."""

    k_ctx: torch.Tensor  # (batches,)
    before: torch.Tensor  # (batches,) mean context length per sample before truncation
    k_tgt: torch.Tensor  # (batches,)
    union_fraction: torch.Tensor  # (batches,)
    rows: dict[str, torch.Tensor]  # name -> (batches, H)
    cols: dict[str, torch.Tensor]  # name -> (batches, W)
    target_sizes: list[str]
    context_sizes: list[str]
    relaxed: int
    overlap: float


@cache
def simulate(name: str, mode: str) -> Run:
    cfg = RUNS[name]["config"]
    masker = fixture_masker(RUNS[name], mode)
    grid = masker.grid
    g = torch.Generator().manual_seed(0)
    k_ctx, before, k_tgt, union, sizes_t, sizes_c = [], [], [], [], [], []
    rows: dict[str, list[torch.Tensor]] = {v: [] for v in SETS.values()}
    cols: dict[str, list[torch.Tensor]] = {v: [] for v in SETS.values()}
    relaxed, overlap = 0, 0.0
    for step in range(cfg["n_batches"]):
        draw = masker.draw(cfg["batch_size"], step, g)
        masks = masker.collate(draw, g)
        cov = coverage([masks], grid)
        row, col = profiles(draw.context, grid)
        for key, r, c in (("before", row, col), *((k, cov.rows[k], cov.cols[k]) for k in
                                                  ("context", "target_union",
                                                   "target_per_block"))):
            rows[key].append(r)
            cols[key].append(c)
        k_ctx.append(masks.context.shape[1])
        before.append(draw.context.sum(1).double().mean())
        k_tgt.append(masks.targets.shape[2])
        union.append(cov.rows["target_union"].mean())
        sizes_t.append("{}x{}".format(*draw.target_size))
        sizes_c.append("{}x{}".format(*draw.context_size))
        relaxed += int((draw.relaxed > 0).sum())
        overlap = max(overlap, cov.overlap)
    f64 = torch.float64
    return Run(torch.tensor(k_ctx, dtype=f64), torch.stack(before), torch.tensor(k_tgt, dtype=f64),
               torch.stack(union), {k: torch.stack(v) for k, v in rows.items()},
               {k: torch.stack(v) for k, v in cols.items()}, sizes_t, sizes_c, relaxed, overlap)


def disagreements(name: str, run: Run) -> list[str]:
    """Statistics of ``run`` outside the tolerance of the module docstring."""
    ref = RUNS[name]
    bad = []

    def check(what: str, ours: torch.Tensor, theirs: float | list[float]) -> None:
        # ours: (batches, ...) per-batch values; theirs: the reference's mean over batches.
        mean = ours.mean(0).reshape(-1)
        se = (ours.std(0) / math.sqrt(ours.shape[0])).reshape(-1)
        want = torch.as_tensor(theirs, dtype=torch.float64).reshape(-1)
        tol = Z * math.sqrt(2) * se + ROUNDING
        for i in torch.nonzero((mean - want).abs() > tol).flatten().tolist():
            bad.append(f"{what}[{i}]: ours {float(mean[i]):.6f}, reference "
                       f"{float(want[i]):.6f}, tolerance {float(tol[i]):.6f}")

    check("context_len_after_collation", run.k_ctx, ref["context_len_after_collation"]["mean"])
    check("context_len_before_truncation", run.before,
          ref["context_len_before_truncation"]["mean"])
    check("context_patches_dropped_by_truncation", run.before - run.k_ctx,
          ref["context_patches_dropped_by_truncation"]["mean"])
    check("target_union_fraction_of_grid", run.union_fraction,
          ref["target_union_fraction_of_grid"])
    for fixture_key, ours in SETS.items():
        check(f"coverage.{fixture_key}.row", run.rows[ours], ref["coverage"][fixture_key]["row"])
        check(f"coverage.{fixture_key}.col", run.cols[ours], ref["coverage"][fixture_key]["col"])
    return bad


@pytest.mark.parametrize("name", sorted(RUNS))
def test_sizes_and_target_lengths_match_exactly(name: str) -> None:
    ref, run = RUNS[name], simulate(name, "reference")
    counts = {k: run.target_sizes.count(k) for k in set(run.target_sizes)}
    assert counts == ref["target_block_size_counts"]
    assert {k: run.context_sizes.count(k) for k in set(run.context_sizes)} \
        == ref["context_block_size_counts"]
    stats = ref["target_len"]
    assert float(run.k_tgt.mean()) == pytest.approx(stats["mean"], abs=1e-9)
    assert (run.k_tgt.min(), run.k_tgt.max()) == (stats["min"], stats["max"])


@pytest.mark.parametrize("name", sorted(RUNS))
def test_lengths_and_coverage_match_in_distribution(name: str) -> None:
    run = simulate(name, "reference")
    assert disagreements(name, run) == []
    # Like the reference: no relaxation was needed, so contexts never overlap targets.
    assert RUNS[name]["valid_mask_not_found_warnings"] == 0 and run.relaxed == 0
    assert RUNS[name]["context_target_overlap"]["fraction"] == 0.0 and run.overlap == 0.0


def test_reference_positions_never_touch_the_last_row_or_column() -> None:
    run = simulate("input224_patch16_minkeep10_batch128", "reference")
    for name in SETS.values():
        assert float(run.rows[name][:, -1].abs().max()) == 0.0
        assert float(run.cols[name][:, -1].abs().max()) == 0.0


def test_the_comparison_has_power_uniform_mode_fails_it() -> None:
    name = "input224_patch16_minkeep10_batch128"
    bad = disagreements(name, simulate(name, "uniform"))
    assert any(b.startswith("coverage.context_after_collation.row") for b in bad)
    assert any(b.startswith("coverage.target_per_block.row[13]") for b in bad)  # last row
    assert len(bad) > 50
