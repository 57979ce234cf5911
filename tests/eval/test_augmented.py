"""Augmented probe views: the papers' transforms, fixed by (seed, epoch, index)."""

from __future__ import annotations

import random

import pytest
import torch

from jepa_kit.errors import UserError
from jepa_kit.eval.augmented import AugmentedImages


def _images() -> list[tuple[torch.Tensor, int]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(0, 256, (3, 40, 48), generator=g, dtype=torch.uint8), i % 2)
            for i in range(3)]


@pytest.mark.parametrize("augment", ["ijepa", "vjepa"])
def test_views_are_fixed_by_seed_epoch_and_index(augment: str) -> None:
    data = _images()
    views = AugmentedImages(data, augment, 32, seed=1, epoch=0)
    torch_state, py_state = torch.random.get_rng_state(), random.getstate()
    first, label = views[2]
    assert first.shape == (3, 32, 32) and first.dtype == torch.float32 and label == 0
    assert torch.equal(first, AugmentedImages(data, augment, 32, seed=1, epoch=0)[2][0])
    assert not torch.equal(first, AugmentedImages(data, augment, 32, seed=1, epoch=1)[2][0])
    assert not torch.equal(first, views[1][0])
    # The caller's random streams are left as they were.
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert random.getstate() == py_state


def test_an_unknown_augmentation_names_the_choices() -> None:
    with pytest.raises(UserError, match="--augment 'mae': expected one of ijepa, vjepa"):
        AugmentedImages(_images(), "mae", 32, seed=0)
