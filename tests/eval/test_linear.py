"""Linear probe: deterministic under its seed, accurate on separable data, blind to val."""

from __future__ import annotations

import pytest
import torch

from jepa_kit.eval.linear import linear_probe, stratified_holdout


def _linearly_separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Classes from a fixed random linear map of features whose dimensions differ in scale by
    # 10^4: without standardisation one learning rate could not suit them all.
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(-2, 2, 12)
    x = torch.randn(n, 12, generator=g) * scales
    w = torch.randn(12, 3, generator=torch.Generator().manual_seed(99)) / scales[:, None]
    return x, (x @ w).argmax(1)


def test_separable_data_is_learned() -> None:
    train, val = _linearly_separable(600, 0), _linearly_separable(300, 1)
    result = linear_probe(*train, *val, epochs=100)
    assert result["top1"] > 0.9
    assert result["holdout_top1"] > 0.85
    assert len(result["grid"]) == 9 and "top5" not in result
    assert (result["lr"], result["weight_decay"]) in {(r["lr"], r["weight_decay"])
                                                      for r in result["grid"]}


def test_same_seed_same_result_and_mini_batches_work() -> None:
    train, val = _linearly_separable(200, 2), _linearly_separable(100, 3)
    kwargs = dict(lrs=(1e-2, 1e-1), weight_decays=(0.0,), epochs=5, batch_size=32)
    a = linear_probe(*train, *val, seed=0, **kwargs)
    b = linear_probe(*train, *val, seed=0, **kwargs)
    assert a == b
    sgd = linear_probe(*train, *val, optimizer="sgd", **kwargs)
    assert 0.0 <= sgd["top1"] <= 1.0


def test_selection_does_not_look_at_val() -> None:
    train, val = _linearly_separable(200, 4), _linearly_separable(100, 5)
    kwargs = dict(lrs=(1e-3, 1e-1), weight_decays=(0.0, 1e-2), epochs=20)
    honest = linear_probe(*train, *val, **kwargs)
    shuffled = linear_probe(*train, val[0], val[1].roll(1), **kwargs)
    assert honest["grid"] == shuffled["grid"]
    assert (honest["lr"], honest["weight_decay"]) == (shuffled["lr"], shuffled["weight_decay"])


def test_holdout_is_stratified_and_fixed() -> None:
    labels = torch.tensor([0] * 10 + [1] * 5 + [2])
    fit, held = stratified_holdout(labels, 0.2, seed=0)
    assert sorted(labels[held].tolist()) == [0, 0, 1]  # class 2 has a single image: kept for fit
    assert set(fit.tolist()).isdisjoint(held.tolist()) and len(fit) + len(held) == 16
    again = stratified_holdout(labels, 0.2, seed=0)
    assert torch.equal(held, again[1])


def test_bad_arguments() -> None:
    x, y = _linearly_separable(20, 0)
    with pytest.raises(ValueError, match="holdout_fraction"):
        linear_probe(x, y, x, y, holdout_fraction=0.0)
    with pytest.raises(ValueError, match="unlabelled"):
        linear_probe(x, y - 1, x, y)
