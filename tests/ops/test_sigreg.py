"""SIGReg and the LeJEPA loss: against the official code's numbers, then on their own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

from jepa_kit.ops.sigreg import epps_pulley, lejepa_loss, random_slices, sigreg

REFERENCE = Path(__file__).parents[1] / "fixtures" / "lejepa_reference" / "sigreg.pt"
TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    return torch.load(REFERENCE, weights_only=True)


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['input']}-s{case['num_slices']}"


def test_fixture_covers_the_advertised_grid(ref: dict[str, Any]) -> None:
    cases = ref["cases"]
    assert {c["n"] for c in cases} == {16, 64, 257}
    assert {c["dim"] for c in cases} == {8, 32, 128}
    assert {c["num_slices"] for c in cases} == {16, 256}
    assert len({c["seed"] for c in cases}) >= 2
    assert len(cases) == 36


def test_slices_match_the_official_draw(ref: dict[str, Any]) -> None:
    for key, expected in ref["slices"].items():
        match = re.fullmatch(r"k(\d+)_s(\d+)_step(\d+)", key)
        assert match is not None, key
        k, s, step = map(int, match.groups())
        got = random_slices(k, s, torch.Generator().manual_seed(step))
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-7, msg=key)


def test_statistic_and_sigreg_match_the_official_code(ref: dict[str, Any]) -> None:
    for case in ref["cases"]:
        x, a = ref["inputs"][case["input"]], ref["slices"][case["slices"]]
        torch.testing.assert_close(epps_pulley(x @ a), case["stat"], **TOL, msg=_case_id(case))
        torch.testing.assert_close(sigreg(x, a), case["sigreg"], **TOL, msg=_case_id(case))


@pytest.mark.parametrize("index", [0, 1])
def test_lejepa_loss_matches_the_official_code(ref: dict[str, Any], index: int) -> None:
    case = ref["losses"][index]
    total, prediction, reg = lejepa_loss(case["global_emb"], case["all_emb"], case["slices"],
                                         case["lambd"])
    torch.testing.assert_close(prediction, case["prediction"], **TOL)
    torch.testing.assert_close(reg, case["sigreg"], **TOL)
    torch.testing.assert_close(total, case["total"], **TOL)
    if "minimal_md_sigreg" in case:
        torch.testing.assert_close(reg, case["minimal_md_sigreg"], **TOL)


def test_sigreg_applies_per_view_then_averages(ref: dict[str, Any]) -> None:
    case = ref["losses"][0]
    emb, a = case["all_emb"], case["slices"]
    per_view = torch.stack([sigreg(view, a) for view in emb]).mean()
    torch.testing.assert_close(sigreg(emb, a), per_view)
    assert not torch.allclose(sigreg(emb.flatten(0, 1), a), per_view)


def test_gaussian_scores_low_and_collapse_scores_high() -> None:
    g = torch.Generator().manual_seed(0)
    a = random_slices(32, 64, torch.Generator().manual_seed(1))
    gaussian = torch.randn(2048, 32, generator=g)
    point = torch.randn(1, 32, generator=g).expand(2048, 32)
    rank1 = torch.randn(2048, 1, generator=g) * torch.randn(1, 32, generator=g)
    # Under N(0, I) the N-scaled statistic stays O(1); off it, it grows linearly with N.
    assert sigreg(gaussian, a) < 2.0
    assert sigreg(point, a) > 100 * sigreg(gaussian, a)
    assert sigreg(rank1, a) > 10 * sigreg(gaussian, a)


def test_slices_are_unit_norm_and_reproducible() -> None:
    a = random_slices(48, 100, torch.Generator().manual_seed(3))
    assert a.shape == (48, 100) and a.dtype == torch.float32
    torch.testing.assert_close(a.norm(dim=0), torch.ones(100))
    assert torch.equal(a, random_slices(48, 100, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, random_slices(48, 100, torch.Generator().manual_seed(4)))
    b = random_slices(48, 100, torch.Generator().manual_seed(3), dtype=torch.float64)
    assert b.dtype == torch.float64 and torch.equal(b.float(), a)


def test_all_reduce_hook_sees_the_ecf_and_identity_changes_nothing() -> None:
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    a = random_slices(8, 16, torch.Generator().manual_seed(0))
    seen: list[torch.Size] = []

    def identity(ecf: torch.Tensor) -> torch.Tensor:
        seen.append(ecf.shape)
        return ecf

    torch.testing.assert_close(sigreg(x, a, all_reduce=identity), sigreg(x, a), rtol=0, atol=0)
    assert seen == [torch.Size([2, 16, 17])]


def test_world_size_scales_by_the_global_batch() -> None:
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    a = random_slices(8, 16, torch.Generator().manual_seed(0))
    # Two ranks holding the same half-batch: the averaged ecf is that half's, N is doubled.
    torch.testing.assert_close(sigreg(x, a, all_reduce=lambda e: e, world_size=2),
                               2 * sigreg(x, a))


def test_gradients_flow_and_are_finite() -> None:
    x = torch.randn(4, 16, 32, generator=torch.Generator().manual_seed(0)).requires_grad_()
    a = random_slices(32, 64, torch.Generator().manual_seed(0))
    total, _, reg = lejepa_loss(x[:2], x, a, lambd=0.5)
    (grad,) = torch.autograd.grad(reg, x, retain_graph=True)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    total.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bad_arguments_raise() -> None:
    a = random_slices(8, 4, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="features"):
        sigreg(torch.randn(5, 7), a)
    with pytest.raises(ValueError, match="lambd"):
        lejepa_loss(torch.randn(1, 5, 8), torch.randn(2, 5, 8), a, lambd=1.5)
    with pytest.raises(ValueError, match="num_points"):
        epps_pulley(torch.randn(5, 4), num_points=1)
