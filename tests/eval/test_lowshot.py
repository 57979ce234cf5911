"""Low-shot subsets: exact per-class counts, fixed by the seed, recorded for the JSON."""

from __future__ import annotations

import pytest
import torch

from jepa_kit.errors import UserError
from jepa_kit.eval.lowshot import (
    describe_subset,
    fraction_subset,
    low_shot,
    per_class_subset,
)

LABELS = torch.arange(300) % 3  # 100 images of each of 3 classes
LABELS[:10] = 2  # unequal classes: 96, 97 and 107 images


def test_n_images_per_class_fixed_by_the_seed() -> None:
    idx = per_class_subset(LABELS, 5, seed=0)
    assert torch.bincount(LABELS[idx]).tolist() == [5, 5, 5]
    assert torch.equal(idx, idx.sort().values) and idx.unique().numel() == 15
    assert torch.equal(idx, per_class_subset(LABELS, 5, seed=0))
    assert not torch.equal(idx, per_class_subset(LABELS, 5, seed=1))
    # A larger subset of the same seed draws the same first images of each class.
    assert set(idx.tolist()) <= set(per_class_subset(LABELS, 8, seed=0).tolist())


def test_a_fraction_of_every_class() -> None:
    counts = torch.bincount(LABELS).tolist()
    idx = fraction_subset(LABELS, 0.1, seed=0)
    assert torch.bincount(LABELS[idx]).tolist() == [round(0.1 * c) for c in counts]
    tiny = fraction_subset(LABELS, 0.001, seed=0)  # never an empty class
    assert torch.bincount(LABELS[tiny]).tolist() == [1, 1, 1]
    assert fraction_subset(LABELS, 1.0, seed=4).numel() == 300


def test_bad_requests_name_the_option() -> None:
    with pytest.raises(UserError, match="--per-class 200: class 0 has only 96 train images"):
        per_class_subset(LABELS, 200, seed=0)
    with pytest.raises(UserError, match=r"--fraction 1.5: expected a share in \(0, 1\]"):
        fraction_subset(LABELS, 1.5, seed=0)
    with pytest.raises(UserError, match="not both"):
        low_shot(LABELS, per_class=1, fraction=0.1)
    assert low_shot(LABELS) is None


def test_the_record_holds_the_indices_and_their_digest() -> None:
    idx = low_shot(LABELS, per_class=2, seed=7)
    assert idx is not None
    record = describe_subset(idx, LABELS, per_class=2, fraction=None, seed=7)
    assert record["indices"] == idx.tolist() and record["num_images"] == 6
    assert record["per_class_counts"] == [2, 2, 2] and record["seed"] == 7
    same = low_shot(LABELS, per_class=2, seed=7)
    assert same is not None
    again = describe_subset(same, LABELS, per_class=2, fraction=None, seed=7)
    assert again["indices_sha256"] == record["indices_sha256"]
