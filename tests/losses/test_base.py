"""``NormalizedTargetsLoss``: the public base of losses that layer-norm their targets."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

import jepa_kit.losses
from jepa_kit.losses import NormalizedTargetsConfig, NormalizedTargetsLoss
from jepa_kit.losses.feature import L2Loss, SmoothL1Loss
from jepa_kit.testing import check_loss


class L1Loss(NormalizedTargetsLoss):
    """What a plugin writes: a ``kind`` and a distance; the target treatment is inherited."""

    class Config(NormalizedTargetsConfig):
        kind: Literal["test_l1"] = "test_l1"

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(predictions, targets)


def test_the_base_is_exported_and_the_built_ins_use_it() -> None:
    for name in ("NormalizedTargetsConfig", "NormalizedTargetsLoss"):
        assert name in jepa_kit.losses.__all__
    for cls in (L2Loss, SmoothL1Loss):
        assert issubclass(cls, NormalizedTargetsLoss)
        assert issubclass(cls.Config, NormalizedTargetsConfig)


def test_a_subclass_gets_the_reference_targets_and_conforms() -> None:
    check_loss(L1Loss)
    check_loss(L1Loss, {"normalize_targets": False})
    x = torch.randn(2, 5, 8) * 3 + 1
    assert torch.equal(L1Loss(L1Loss.Config()).prepare_targets(x),
                       F.layer_norm(x, (8,)))  # no affine, eps 1e-5
    assert torch.equal(L1Loss(L1Loss.Config()).prepare_targets(x),
                       L2Loss(L2Loss.Config()).prepare_targets(x))
    assert L1Loss(L1Loss.Config(normalize_targets=False)).prepare_targets(x) is x
