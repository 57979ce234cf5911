"""Linear probe on cached, frozen features, with a small learning-rate x weight-decay search.

A linear classifier (softmax regression) is trained on pooled features that were extracted
once, as I-JEPA's low-shot and linear evaluations do with a frozen target encoder ([0], Sec. 5);
training on cached features instead of images makes the probe cost seconds, at the price of
no augmentation. The features are standardised with the fitting set's mean and std, so one
small grid of learning rates suits any encoder width or scale.

Model selection never looks at the val split: a class-stratified hold-out (``holdout_fraction``
of every class, drawn with ``seed``) is carved out of the train features, each grid point is
fitted on the rest and scored on the hold-out, and the best setting (hold-out accuracy, then
hold-out loss) is refitted on all train features and scored once on val. The weights start at
zero (the problem is convex, so no random init is needed) and mini-batch order comes from a
generator seeded with ``seed``: the same inputs give the same result.

``augmented_linear_probe`` is the paper's variant: the same standardised linear head and grid,
trained on features of augmented train images encoded on the fly (``jepa_kit.eval.augmented``;
all grid points share each mini-batch, ``jepa_kit.eval.probe``).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from jepa_kit.eval.holdout import stratified_holdout
from jepa_kit.eval.probe import BatchSource, ProbeOptim, search_and_fit
from jepa_kit.optim.fit import Fitted, fit
from jepa_kit.optim.schedules import warmup_cosine

__all__ = ["augmented_linear_probe", "fit_linear", "linear_probe", "stratified_holdout"]

DEFAULT_LRS: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
DEFAULT_WEIGHT_DECAYS: tuple[float, ...] = (0.0, 1e-4, 1e-2)


def _standardiser(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # A floor on the std keeps constant (collapsed) dimensions at 0 instead of blowing up.
    return x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    ranked = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return float((ranked == labels.view(-1, 1)).any(dim=1).double().mean())


@torch.enable_grad()
def fit_linear(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, lr: float,
               weight_decay: float, epochs: int = 100, batch_size: int | None = None,
               optimizer: Literal["adamw", "sgd"] = "adamw", seed: int = 0) -> nn.Linear:
    """Softmax regression on standardised ``x`` (N, D): zero init, cosine-decayed lr.

    ``batch_size=None`` takes full-batch steps (one per epoch); otherwise each epoch visits a
    fresh permutation drawn from a generator seeded with ``seed``. SGD uses momentum 0.9.
    """
    n, d = x.shape
    model = nn.Linear(d, num_classes).to(x.device)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    if optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=lr,
                                                        weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {optimizer!r}")
    bs = n if batch_size is None else min(batch_size, n)
    steps = max(epochs * math.ceil(n / bs), 1)
    g = torch.Generator().manual_seed(seed)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(epochs):
            order = torch.randperm(n, generator=g).to(x.device) if bs < n else None
            for start in range(0, n, bs):
                idx = order[start : start + bs] if order is not None else slice(None)
                yield x[idx], y[idx]

    # Cosine from lr to 0 over the run, the weight decay constant (as built).
    fit([Fitted(model, opt, lambda k: (warmup_cosine(k, warmup=0, total=steps, start=lr,
                                                     peak=lr, final=0.0), None))], batches())
    return model


def linear_probe(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    val_feats: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    lrs: tuple[float, ...] = DEFAULT_LRS,
    weight_decays: tuple[float, ...] = DEFAULT_WEIGHT_DECAYS,
    epochs: int = 100,
    batch_size: int | None = None,
    optimizer: Literal["adamw", "sgd"] = "adamw",
    holdout_fraction: float = 0.2,
    num_classes: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Grid-searched linear probe; accuracies are fractions in [0, 1].

    Returns ``top1`` (and ``top5`` with more than 5 classes) on val for the chosen setting,
    the chosen ``lr`` and ``weight_decay``, its ``holdout_top1``, every grid point's hold-out
    scores under ``grid``, and the settings used.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    if not lrs or not weight_decays:
        raise ValueError("lrs and weight_decays need at least one value each")
    if min(int(train_labels.min()), int(val_labels.min())) < 0:
        raise ValueError("labels must be >= 0 (-1 marks an unlabelled image)")
    x, y = train_feats.float(), train_labels.long()
    vx, vy = val_feats.float().to(x.device), val_labels.long().to(x.device)
    if num_classes is None:
        num_classes = int(max(int(y.max()), int(vy.max()))) + 1
    options = dict(epochs=epochs, batch_size=batch_size, optimizer=optimizer, seed=seed)

    fit_idx, held_idx = stratified_holdout(y.cpu(), holdout_fraction, seed)
    fit_idx, held_idx = fit_idx.to(x.device), held_idx.to(x.device)
    if held_idx.numel() == 0:
        raise ValueError("the train features are too few to hold any out for model selection")
    mean, std = _standardiser(x[fit_idx])
    fx, hx = (x[fit_idx] - mean) / std, (x[held_idx] - mean) / std
    grid = []
    for lr in lrs:
        for wd in weight_decays:
            model = fit_linear(fx, y[fit_idx], num_classes, lr=lr, weight_decay=wd, **options)
            logits = model(hx)
            grid.append({"lr": lr, "weight_decay": wd,
                         "holdout_top1": _accuracy(logits, y[held_idx], 1),
                         "holdout_loss": float(F.cross_entropy(logits, y[held_idx]))})
    # Ties on accuracy are common on easy data; the hold-out loss breaks them.
    best = max(grid, key=lambda r: (r["holdout_top1"], -r["holdout_loss"]))

    mean, std = _standardiser(x)
    model = fit_linear((x - mean) / std, y, num_classes, lr=best["lr"],
                       weight_decay=best["weight_decay"], **options)
    logits = model((vx - mean) / std)
    out: dict[str, Any] = {"top1": _accuracy(logits, vy, 1)}
    if num_classes > 5:
        out["top5"] = _accuracy(logits, vy, 5)
    out.update(lr=best["lr"], weight_decay=best["weight_decay"],
               holdout_top1=best["holdout_top1"], grid=grid, epochs=epochs,
               batch_size=batch_size, optimizer=optimizer, holdout_fraction=holdout_fraction,
               seed=seed, num_classes=num_classes, num_train=int(x.shape[0]),
               num_val=int(vx.shape[0]))
    return out


class Standardised(nn.Module):
    """A zero-initialised linear layer on features standardised with a fixed mean and std."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(mean.numel(), num_classes).to(mean.device)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std)


def augmented_linear_probe(
    batches: BatchSource,
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    val_feats: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    lrs: tuple[float, ...] = DEFAULT_LRS,
    weight_decays: tuple[float, ...] = DEFAULT_WEIGHT_DECAYS,
    epochs: int = 100,
    batch_size: int = 256,
    train_indices: torch.Tensor | None = None,
    holdout_fraction: float = 0.2,
    num_classes: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Linear probe trained on ``batches`` (features of augmented train images), selected on
    a hold-out of the eval-view ``train_feats`` and scored on ``val_feats``.

    The standardisation comes from the eval-view features of the training rows; AdamW with a
    cosine-decayed lr and a constant weight decay, as ``linear_probe``.
    """
    if min(int(train_labels.min()), int(val_labels.min())) < 0:
        raise ValueError("labels must be >= 0 (-1 marks an unlabelled image)")
    x, y = train_feats.float(), train_labels.long().to(train_feats.device)
    if num_classes is None:
        num_classes = int(max(int(y.max()), int(val_labels.max()))) + 1
    rows = torch.arange(y.numel()) if train_indices is None else train_indices.cpu()
    mean, std = _standardiser(x[rows.to(x.device)])
    base = ProbeOptim(epochs=epochs, batch_size=batch_size, final_weight_decay=None,
                      grad_clip=None)
    out = search_and_fit(lambda: Standardised(mean, std, num_classes), batches, (x, y),
                         (val_feats.float().to(x.device), val_labels.long().to(x.device)),
                         base=base, lrs=lrs, weight_decays=weight_decays,
                         train_indices=train_indices, holdout_fraction=holdout_fraction,
                         seed=seed)
    out.update(epochs=epochs, batch_size=batch_size, optimizer="adamw",
               num_classes=num_classes)
    return out
