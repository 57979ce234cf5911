"""Frozen features for evaluation: average-pooled patch tokens of one encoder.

I-JEPA evaluates the *target* encoder and, for its ViT-L/H linear probes, average-pools the
patch tokens of the output ([0], Sec. 5 and App. B); the encoders here return patch tokens only
(no class token), so the average pool is the natural image embedding for kNN and linear probes
alike. Images go through ``EvalTransform`` (resize, centre crop, normalise): no augmentation.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from jepa_kit.build import build_dataset
from jepa_kit.config import ComponentConfig
from jepa_kit.data.base import Dataset
from jepa_kit.data.loader import build_eval_loader
from jepa_kit.data.transforms import EvalTransform
from jepa_kit.errors import UserError


def pool_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """Average-pool patch tokens (B, N, D) -> (B, D), in float32."""
    return tokens.float().mean(dim=1)


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str = "cpu",
    *,
    precision: str = "fp32",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features of every image in ``loader``: ``(feats (N, D) float32, labels (N,))``.

    The encoder runs in eval mode without gradients (its previous mode is restored afterwards,
    so this can run in the middle of training). ``precision="bf16"`` runs the forward pass under
    autocast; the pooling and the returned features are float32 either way. Features come back
    on the CPU, in loader order.
    """
    device = torch.device(device)
    was_training = encoder.training
    encoder.eval()
    amp = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
           if precision == "bf16" else contextlib.nullcontext())
    feats: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    try:
        for images, targets in loader:
            with amp:
                tokens = encoder(images.to(device, non_blocking=True))  # (B, N, D)
            feats.append(pool_tokens(tokens).cpu())
            labels.append(torch.as_tensor(targets, dtype=torch.int64))
    finally:
        encoder.train(was_training)
    if not feats:
        raise ValueError("the evaluation loader yielded no images")
    return torch.cat(feats), torch.cat(labels)


@dataclass
class EvalSplits:
    """The train and val datasets of one data config, as the evaluation protocols read them."""

    config: ComponentConfig
    train: Dataset
    val: Dataset

    def loaders(self, *, batch_size: int, num_workers: int | None = None,
                pin_memory: bool = False, rank: int = 0, world_size: int = 1
                ) -> tuple[DataLoader, DataLoader]:
        """Eval-transformed, unshuffled ``(train, val)`` loaders; with ``world_size > 1`` rank
        ``r`` reads every ``world_size``-th image from ``r`` (a share, no padding)."""
        transform = EvalTransform(self.config)  # type: ignore[arg-type]
        workers = num_workers if num_workers is not None else \
            getattr(self.config, "num_workers", 0)
        return tuple(  # type: ignore[return-value]
            build_eval_loader(split, transform, batch_size=batch_size, num_workers=workers,
                              pin_memory=pin_memory, rank=rank, world_size=world_size)
            for split in (self.train, self.val)
        )


def describe_data(config: ComponentConfig) -> str:
    """``data.root = '...'`` for a folder dataset, else ``data.kind = '...'`` (for messages)."""
    root = getattr(config, "root", None)
    return f"data.root = {root!r}" if root is not None else f"data.kind = {config.kind!r}"


def build_eval_splits(config: ComponentConfig, *, seed: int = 0) -> EvalSplits:
    """Train and val datasets of ``config``; ``UserError`` when either is unlabelled.

    kNN and linear probes need labels in both splits; a flat image folder has none.
    """
    train = build_dataset(config, train=True, seed=seed)
    val = build_dataset(config, train=False, seed=seed)
    for name, split in (("train", train), ("val", val)):
        if not getattr(split, "classes", None):
            raise UserError(
                f"{describe_data(config)}: the {name} split is unlabelled; kNN and linear "
                "evaluation need labelled images (one sub-folder per class)"
            )
    return EvalSplits(config, train, val)


def check_labels(labels: torch.Tensor, what: str) -> None:
    """Raise ``UserError`` when ``labels`` hold the unlabelled marker -1."""
    if labels.numel() and int(labels.min()) < 0:
        raise UserError(f"{what}: some images are unlabelled (label -1); kNN and linear "
                        "evaluation need a label for every image")


def split_features(encoder: nn.Module, splits: EvalSplits, device: torch.device | str, *,
                   batch_size: int = 128, precision: str = "fp32",
                   num_workers: int | None = None) -> dict[str, Any]:
    """``{"train": (feats, labels), "val": (feats, labels)}`` for ``splits``."""
    device = torch.device(device)
    out: dict[str, Any] = {}
    loaders = splits.loaders(batch_size=batch_size, num_workers=num_workers,
                             pin_memory=device.type == "cuda")
    for name, loader in zip(("train", "val"), loaders, strict=True):
        feats, labels = extract_features(encoder, loader, device, precision=precision)
        check_labels(labels, f"{describe_data(splits.config)} ({name} split)")
        out[name] = (feats, labels)
    return out
