"""Low-shot subsets of a labelled train split: N images per class, or a fraction of it.

I-JEPA reports ImageNet-1K with 1% of the labels ([0], Sec. 5, Table 2; the fixed 1% split of
SimCLR [1], about 13 images per class). jepa-kit draws its subsets itself, so they exist for any
dataset: ``per_class_subset`` keeps ``n`` images of every class, ``fraction_subset`` keeps
``round(fraction * n_c)`` of every class ``c`` (at least one), both with a generator seeded
with ``seed``. The same labels and seed give the same indices on every machine and for every
number of ranks (the features are gathered in dataset order first), and ``describe_subset``
records the indices in the result JSON so a subset can be checked or reused.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: SimCLR, Chen et al. 2020, arXiv:2002.05709
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from jepa_kit.errors import UserError


def _per_class(labels: torch.Tensor, seed: int, count: Any) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    kept = []
    for c in torch.unique(labels).tolist():  # classes in sorted order: one fixed draw order
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        kept.append(idx[: count(idx.numel(), c)])
    return torch.cat(kept).sort().values


def per_class_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of ``n`` images of every class of ``labels`` (N,), drawn with ``seed``;
    ``UserError`` when a class has fewer than ``n``."""
    if n < 1:
        raise UserError(f"--per-class {n}: expected at least 1 image per class")
    labels = labels.cpu()

    def count(available: int, c: int) -> int:
        if available < n:
            raise UserError(f"--per-class {n}: class {c} has only {available} train images")
        return n

    return _per_class(labels, seed, count)


def fraction_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of ``round(fraction * n_c)`` images (at least one) of every class ``c``
    of ``labels`` (N,), drawn with ``seed``: a class-balanced share of the split."""
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"--fraction {fraction}: expected a share in (0, 1], e.g. 0.01")
    return _per_class(labels.cpu(), seed, lambda available, _c: max(1, round(fraction * available)))


def low_shot(labels: torch.Tensor, *, per_class: int | None = None,
             fraction: float | None = None, seed: int = 0) -> torch.Tensor | None:
    """The subset ``per_class`` or ``fraction`` asks for (None when neither is given)."""
    if per_class is not None and fraction is not None:
        raise UserError("give either --per-class N or --fraction F, not both")
    if per_class is not None:
        return per_class_subset(labels, per_class, seed)
    if fraction is not None:
        return fraction_subset(labels, fraction, seed)
    return None


def describe_subset(indices: torch.Tensor, labels: torch.Tensor, *, per_class: int | None,
                    fraction: float | None, seed: int) -> dict[str, Any]:
    """What a result JSON records of a subset: how it was drawn, its size per class, a digest
    and the indices themselves (into the train split, in dataset order)."""
    idx = indices.cpu().long()
    counts = torch.bincount(labels.cpu()[idx]).tolist()
    digest = hashlib.sha256(idx.numpy().astype("<i8").tobytes()).hexdigest()
    return {"per_class": per_class, "fraction": fraction, "seed": seed,
            "num_images": int(idx.numel()), "per_class_counts": counts,
            "indices_sha256": digest, "indices": idx.tolist()}
