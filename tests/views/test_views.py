"""Views: single keeps I-JEPA's augmentation; multi-crop makes globals then locals."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.data.transforms import TrainTransform
from jepa_kit.views.multicrop import MultiCrop
from jepa_kit.views.single import SingleView


def image() -> torch.Tensor:
    return torch.randint(0, 256, (3, 40, 48), generator=torch.Generator().manual_seed(0),
                         dtype=torch.uint8)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_single_view_is_the_train_transform() -> None:
    views = SingleView(SingleView.Config(crop_scale=(0.5, 1.0)), img_size=32)
    assert views.sizes == (32,)
    (out,) = views(image(), gen(3))
    assert torch.equal(out, TrainTransform(32, scale=(0.5, 1.0))(image(), gen(3)))


def test_multicrop_sizes_order_and_independent_crops() -> None:
    views = MultiCrop(MultiCrop.Config(num_global=2, num_local=3, local_size=16), img_size=32)
    assert views.sizes == (32, 32, 16, 16, 16) and views.num_views == 5
    out = views(image(), gen(1))
    assert [tuple(v.shape) for v in out] == [(3, 32, 32)] * 2 + [(3, 16, 16)] * 3
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[2], out[3])
    again = views(image(), gen(1))
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))


def test_multicrop_refuses_bad_scales_with_their_key() -> None:
    with pytest.raises(ValidationError, match=r"views.local_scale must satisfy"):
        MultiCrop.Config(local_scale=(0.5, 0.1))
