"""Weighted k-nearest-neighbour classification on frozen features.

The protocol of Wu et al. [0] as used by DINO [1]: features are L2-normalised, each val image
finds its ``k`` most cosine-similar train images, and neighbour ``i`` votes for its label with
weight ``exp(s_i / T)`` ([0] Sec. 3.4 uses T = 0.07; [1] reports k = 20 with it). The class with
the largest summed weight is the prediction. No training and no hyperparameter search: a cheap
read-out of how well the features cluster by class.

- [0]: Wu et al. 2018, Unsupervised Feature Learning via Non-Parametric Instance
  Discrimination, arXiv:1805.01978
- [1]: DINO, Caron et al. 2021, arXiv:2104.14294 (``eval_knn.py``)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jepa_kit.config import ComponentConfig
from jepa_kit.eval.features import FeatureExtractor, build_eval_splits


def knn_scores(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    query_feats: torch.Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int,
) -> torch.Tensor:
    """Summed vote weights per class, (Q, C), for ``query_feats`` (Q, D) against the train set.

    Inputs need not be normalised; cosine similarity is used. ``k`` is capped at the train size.
    """
    train = F.normalize(train_feats.float(), dim=1)
    query = F.normalize(query_feats.float(), dim=1)
    k = min(k, train.shape[0])
    sims, idx = (query @ train.T).topk(k, dim=1)  # (Q, k)
    weights = (sims / temperature).exp()
    votes = torch.zeros(query.shape[0], num_classes, dtype=weights.dtype, device=weights.device)
    # Neighbours of the same class add up: scatter_add over the class axis.
    return votes.scatter_add_(1, train_labels.to(idx.device)[idx], weights)


def knn_eval(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    val_feats: torch.Tensor,
    val_labels: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    *,
    chunk_size: int = 1024,
) -> dict[str, Any]:
    """Weighted kNN accuracy of ``val`` against ``train``; fractions in [0, 1].

    Returns ``top1`` (and ``top5`` when there are more than 5 classes), ``k``, ``temperature``,
    ``num_classes``, ``num_train``, ``num_val``. The val set is processed ``chunk_size`` rows at
    a time, so memory stays at ``chunk_size x num_train`` similarities whatever the val size.
    """
    if train_feats.shape[0] == 0 or val_feats.shape[0] == 0:
        raise ValueError("kNN needs at least one train and one val feature")
    if train_feats.shape[1] != val_feats.shape[1]:
        raise ValueError(f"feature widths differ: train {train_feats.shape[1]}, "
                         f"val {val_feats.shape[1]}")
    if min(int(train_labels.min()), int(val_labels.min())) < 0:
        raise ValueError("labels must be >= 0 (-1 marks an unlabelled image)")
    if num_classes is None:
        num_classes = int(max(int(train_labels.max()), int(val_labels.max()))) + 1
    top5 = num_classes > 5
    correct1 = correct5 = 0
    for start in range(0, val_feats.shape[0], chunk_size):
        query = val_feats[start : start + chunk_size]
        truth = val_labels[start : start + chunk_size].to(query.device).view(-1, 1)
        scores = knn_scores(train_feats, train_labels, query, k=k, temperature=temperature,
                            num_classes=num_classes)
        ranked = scores.topk(min(5, num_classes), dim=1).indices  # (Q, 5)
        hits = ranked == truth
        correct1 += int(hits[:, 0].sum())
        correct5 += int(hits.any(dim=1).sum())
    n = val_feats.shape[0]
    out: dict[str, Any] = {"top1": correct1 / n}
    if top5:
        out["top5"] = correct5 / n
    out.update(k=min(k, train_feats.shape[0]), temperature=temperature, num_classes=num_classes,
               num_train=int(train_feats.shape[0]), num_val=n)
    return out


class PeriodicKNN:
    """kNN accuracy during pre-training: ``PeriodicKNN(data, device, seed=...)(encoder)``.

    Builds the train and val splits of the ``data`` config once (eval transform, no
    augmentation) and keeps the loaders; each call extracts features of both splits with
    ``encoder`` and returns ``{"knn_top1": ...}`` (plus ``knn_top5`` with more than 5
    classes). The forward passes run under ``precision``. In a job of ``world_size`` processes
    every rank calls it: each extracts the features of its share of the images, the shares are
    gathered, and each rank scores the same kNN, so no rank waits on another's extraction.
    """

    def __init__(self, data: ComponentConfig, device: torch.device | str, *, seed: int,
                 k: int = 20, temperature: float = 0.07, precision: str = "fp32",
                 batch_size: int = 256, rank: int = 0, world_size: int = 1) -> None:
        self.k = k
        self.temperature = temperature
        splits = build_eval_splits(data, seed=seed)
        self.num_classes = len(splits.train.classes)
        # The same sharded, gathered extraction as `jepa-kit eval` (FeatureExtractor).
        self.extract = FeatureExtractor(splits, device, batch_size=batch_size,
                                        precision=precision, rank=rank, world_size=world_size)

    def __call__(self, encoder: nn.Module) -> dict[str, float]:
        feats = self.extract(encoder)
        result = knn_eval(*feats["train"], *feats["val"], k=self.k,
                          temperature=self.temperature, num_classes=self.num_classes)
        return {f"knn_{key}": result[key] for key in ("top1", "top5") if key in result}
