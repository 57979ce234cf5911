"""cosine and vicreg_l2: the jepa-kit contract and their values against direct formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from jepa_kit.losses import NormalizedTargetsLoss
from jepa_kit.registry import registry
from jepa_kit.testing import check_component, check_loss

from jepa_kit_losses import CosineLoss, VICRegL2Loss


@pytest.mark.parametrize("cls", [CosineLoss, VICRegL2Loss], ids=lambda c: c.__name__)
def test_conforms(cls: type) -> None:
    check_loss(cls)
    check_loss(cls, {"normalize_targets": False}, rows=1, tokens=1, dim=3)


@pytest.mark.parametrize("name", ["cosine", "vicreg_l2"])
def test_registered_through_entry_points(name: str) -> None:
    check_component("loss", name)


def test_cosine_values() -> None:
    loss = CosineLoss(CosineLoss.Config())
    x = torch.randn(4, 3, 8)
    assert float(loss(x, 2.5 * x)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(x, -x)) == pytest.approx(2.0, abs=1e-6)
    y = torch.randn(4, 3, 8)
    want = 1 - (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1))
    assert float(loss(x, y)) == pytest.approx(float(want.mean()), rel=1e-5)


def vicreg_reference(p: torch.Tensor, t: torch.Tensor, w: tuple[float, float, float]) -> float:
    """Term by term, as the VICReg paper's pseudo-code (Algorithm 1), in float64."""
    z = p.reshape(-1, p.shape[-1]).double()
    n, d = z.shape
    std = torch.sqrt(z.var(dim=0) + 1e-4)
    variance = torch.mean(F.relu(1 - std))
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    off = sum(float(cov[i, j]) ** 2 for i in range(d) for j in range(d) if i != j) / d
    return w[0] * float(F.mse_loss(p.double(), t.double())) + w[1] * float(variance) + w[2] * off


def test_vicreg_l2_matches_the_formula() -> None:
    p, t = torch.randn(6, 4, 5) * 0.3, torch.randn(6, 4, 5)
    for w in [(1.0, 1.0, 0.04), (0.5, 2.0, 1.0), (1.0, 0.0, 0.0)]:
        cfg = VICRegL2Loss.Config(l2_weight=w[0], variance_weight=w[1], covariance_weight=w[2])
        assert float(VICRegL2Loss(cfg)(p, t)) == pytest.approx(vicreg_reference(p, t, w),
                                                               rel=1e-5)
    assert float(VICRegL2Loss(VICRegL2Loss.Config(variance_weight=0, covariance_weight=0))(
        p, t)) == pytest.approx(float(F.mse_loss(p, t)), rel=1e-6)


def test_vicreg_pushes_collapsed_predictions_apart() -> None:
    collapsed = torch.ones(8, 4, 6).requires_grad_(True)
    loss = VICRegL2Loss(VICRegL2Loss.Config(l2_weight=0.0))
    value = loss(collapsed, torch.zeros(8, 4, 6)).detach()
    assert float(value) == pytest.approx(1 - 1e-2, rel=1e-4)  # every std is 0: hinge at gamma
    spread = torch.randn(8, 4, 6) * 3
    assert float(loss(spread, torch.zeros_like(spread))) < float(value)


def test_targets_are_layer_normed_unless_disabled() -> None:
    features = torch.randn(2, 5, 8) * 4 + 3
    normed = CosineLoss(CosineLoss.Config()).prepare_targets(features)
    assert torch.allclose(normed, F.layer_norm(features, (8,)))
    raw = VICRegL2Loss(VICRegL2Loss.Config(normalize_targets=False)).prepare_targets(features)
    assert raw is features


@pytest.mark.parametrize("cls", [CosineLoss, VICRegL2Loss], ids=lambda c: c.__name__)
def test_targets_are_jepa_kits_l2_targets_exactly(cls: type) -> None:
    assert issubclass(cls, NormalizedTargetsLoss)  # the core's base, not a copy
    features = torch.randn(3, 7, 16) * 2 + 1
    for normalize in (True, False):
        ours = cls(cls.Config(normalize_targets=normalize)).prepare_targets(features)
        l2 = registry("loss").load("l2")
        core = l2(l2.Config(normalize_targets=normalize)).prepare_targets(features)
        assert torch.equal(ours, core)
