from __future__ import annotations

import torch
import torch.nn.functional as F

from jepa_kit.losses.feature import L2Loss, SmoothL1Loss


def test_targets_are_layer_normed_without_affine() -> None:
    x = torch.randn(2, 5, 8) * 3 + 1
    y = L2Loss(L2Loss.Config()).prepare_targets(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y, (x - x.mean(-1, keepdim=True)) /
                               torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5))
    assert L2Loss(L2Loss.Config(normalize_targets=False)).prepare_targets(x) is x


def test_loss_values() -> None:
    p, t = torch.zeros(1, 1, 4), torch.tensor([[[0.5, -2.0, 1.0, 0.0]]])
    assert L2Loss(L2Loss.Config())(p, t).item() == (0.25 + 4 + 1) / 4
    # smooth L1, beta 1: 0.5 x^2 below 1, |x| - 0.5 above
    assert SmoothL1Loss(SmoothL1Loss.Config())(p, t).item() == (0.125 + 1.5 + 0.5) / 4
    torch.testing.assert_close(SmoothL1Loss(SmoothL1Loss.Config(beta=0.5))(p, t),
                               F.smooth_l1_loss(p, t, beta=0.5))
