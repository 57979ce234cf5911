"""Coverage profiles and mean lengths, on masks small enough to count by hand."""

from __future__ import annotations

import pytest
import torch

from jepa_kit.maskers.base import Masks
from jepa_kit.maskers.stats import SETS, coverage, membership, profiles


def _masks() -> Masks:
    # 2x3 grid (indices 0 1 2 / 3 4 5), two samples, two target blocks of 2 patches.
    context = torch.tensor([[0, 1, 2], [0, 3, 4]])
    targets = torch.tensor([[[3, 4], [1, 2]],  # block 0 of samples 0 and 1
                            [[4, 5], [1, 2]]])  # block 1
    return Masks(context=context, targets=targets)


def test_membership_and_profiles() -> None:
    member = membership(torch.tensor([[0, 5]]), 6)
    assert member.tolist() == [[True, False, False, False, False, True]]
    row, col = profiles(member, (2, 3))
    assert row.tolist() == pytest.approx([1 / 3, 1 / 3])
    assert col.tolist() == pytest.approx([0.5, 0.0, 0.5])


def test_coverage_counts_by_hand() -> None:
    cov = coverage([_masks(), _masks()], (2, 3))
    assert (cov.batches, cov.samples) == (2, 4)
    assert (cov.context_len, cov.target_len, cov.num_targets) == (3.0, 2.0, 2.0)
    assert set(cov.rows) == set(cov.cols) == set(SETS)
    # context: sample 0 = top row, sample 1 = {0, 3, 4}
    assert cov.rows["context"].tolist() == pytest.approx([(3 + 1) / 6, 2 / 6])
    assert cov.cols["context"].tolist() == pytest.approx([3 / 4, 2 / 4, 1 / 4])
    # union: sample 0 = {3, 4, 5}, sample 1 = {1, 2}
    assert cov.rows["target_union"].tolist() == pytest.approx([2 / 6, 3 / 6])
    # per block: column hits summed over samples and blocks are 1, 4, 3, out of 2 x 2 x 2
    assert cov.cols["target_per_block"].tolist() == pytest.approx([1 / 8, 4 / 8, 3 / 8])
    # overlap: sample 1's context holds 3 and 4, which are outside its targets {1, 2}; none
    assert cov.overlap == 0.0


def test_coverage_counts_overlap_and_needs_a_batch() -> None:
    masks = Masks(context=torch.tensor([[0, 1]]), targets=torch.tensor([[[1, 2]]]))
    assert coverage([masks], (1, 3)).overlap == 0.5
    with pytest.raises(ValueError, match="at least one batch"):
        coverage([], (2, 2))
