"""Weighted kNN: exact votes on a hand-made example, perfect on separable data, chance on noise."""

from __future__ import annotations

import math

import pytest
import torch

from jepa_kit.eval.knn import knn_eval, knn_scores


def _clusters(n_per_class: int, num_classes: int, dim: int, seed: int, noise: float = 0.05
              ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(num_classes, dim)  # orthogonal class directions
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    feats = centres[labels] + noise * torch.randn(labels.numel(), dim, generator=g)
    return feats, labels


def test_votes_are_exp_similarity_over_temperature() -> None:
    # Three train points at known angles to the query (1, 0): cosines 1, 0.6 and 0.
    train = torch.tensor([[2.0, 0.0], [0.6, 0.8], [0.0, 3.0]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[5.0, 0.0]])
    t = 0.5
    scores = knn_scores(train, labels, query, k=3, temperature=t, num_classes=2)
    expected = torch.tensor([[math.exp(1 / t), math.exp(0.6 / t) + math.exp(0.0 / t)]])
    torch.testing.assert_close(scores, expected)
    # k = 2 drops the least similar neighbour (cosine 0).
    scores = knn_scores(train, labels, query, k=2, temperature=t, num_classes=2)
    torch.testing.assert_close(scores, torch.tensor([[math.exp(2.0), math.exp(1.2)]]))


def test_temperature_decides_between_one_close_and_many_far_neighbours() -> None:
    # One neighbour of class 0 at cosine 1.0 against two of class 1 at cosine 0.8:
    # a low temperature trusts the closest, a high one counts heads.
    train = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6]])
    labels = torch.tensor([0, 1, 1])
    val = torch.tensor([[1.0, 0.0]])
    assert knn_eval(train, labels, val, torch.tensor([0]), k=3, temperature=0.07)["top1"] == 1.0
    assert knn_eval(train, labels, val, torch.tensor([0]), k=3, temperature=10.0)["top1"] == 0.0


def test_separable_features_score_one_and_top5_appears_past_five_classes() -> None:
    train, train_y = _clusters(20, 8, 16, seed=0)
    val, val_y = _clusters(10, 8, 16, seed=1)
    result = knn_eval(train, train_y, val, val_y, k=20, temperature=0.07)
    assert result["top1"] == 1.0 and result["top5"] == 1.0
    assert result["num_classes"] == 8 and result["num_train"] == 160 and result["num_val"] == 80
    few = knn_eval(*_clusters(5, 4, 8, seed=0), *_clusters(5, 4, 8, seed=1))
    assert few["top1"] == 1.0 and "top5" not in few


def test_random_labels_give_chance() -> None:
    g = torch.Generator().manual_seed(0)
    train, val = torch.randn(2000, 32, generator=g), torch.randn(1000, 32, generator=g)
    train_y = torch.randint(0, 10, (2000,), generator=g)
    val_y = torch.randint(0, 10, (1000,), generator=g)
    result = knn_eval(train, train_y, val, val_y, k=20, temperature=0.07)
    assert abs(result["top1"] - 0.1) < 0.04
    assert abs(result["top5"] - 0.5) < 0.08


def test_chunking_does_not_change_the_result() -> None:
    g = torch.Generator().manual_seed(3)
    train, val = torch.randn(300, 8, generator=g), torch.randn(77, 8, generator=g)
    train_y = torch.randint(0, 7, (300,), generator=g)
    val_y = torch.randint(0, 7, (77,), generator=g)
    whole = knn_eval(train, train_y, val, val_y, chunk_size=1000)
    parts = knn_eval(train, train_y, val, val_y, chunk_size=10)
    assert whole == parts


def test_k_is_capped_and_bad_labels_rejected() -> None:
    train, train_y = _clusters(2, 2, 4, seed=0)
    assert knn_eval(train, train_y, train, train_y, k=50)["k"] == 4
    with pytest.raises(ValueError, match="unlabelled"):
        knn_eval(train, train_y - 1, train, train_y)
