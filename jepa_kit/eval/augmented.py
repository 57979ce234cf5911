"""Probe features computed on the fly from augmented train images (the papers' protocols).

Cached features (``jepa_kit.eval.features``) see each train image once, through the eval
view. The papers train their probes on augmented views instead, encoding every mini-batch
through the frozen encoder. Which views: the ones a method declares as its evaluation defaults
(``Method.eval_augmentation``, e.g. ``jepa_kit/methods/ijepa/eval_defaults.py``), named by the
method (``--augment ijepa``: I-JEPA's linear protocol; ``vjepa``: V-JEPA's attentive one).

Every random number of an image's view comes from ``(seed, epoch, index)``, so a probe sees the
same views whatever the loader workers. The hold-out and val splits are always read through
the eval view (cached features).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from jepa_kit.errors import UserError
from jepa_kit.eval.features import encode
from jepa_kit.eval.probe import BatchSource

#: ``(img_size) -> view``, ``view(image, key) -> tensor``: what a method declares.
Augmentation = Callable[[int], Callable[[torch.Tensor, int], torch.Tensor]]


def augmentations() -> dict[str, Augmentation]:
    """Method name -> its probe augmentation, for every installed method that declares one."""
    from jepa_kit.registry import registry

    found = {}
    for name, method in registry("method").load_all().items():
        views = getattr(method, "eval_augmentation", None)
        if views is not None:
            found[name] = views
    return found


class AugmentedImages(torch.utils.data.Dataset):
    """``dataset``'s images as ``augment`` views at ``img_size``, for one ``epoch``."""

    def __init__(self, dataset: Any, augment: str, img_size: int, *, seed: int,
                 epoch: int = 0) -> None:
        known = augmentations()
        if augment not in known:
            raise UserError(f"--augment {augment!r}: expected one of {', '.join(known)}")
        self.dataset, self.augment, self.seed, self.epoch = dataset, augment, seed, epoch
        self.view = known[augment](img_size)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        key = (self.seed * 1_000_003 + self.epoch) * 10_000_019 + index
        return self.view(image, key), label


def augmented_batches(encoder: nn.Module, dataset: Any, *, augment: str, img_size: int,
                      pool: str, device: torch.device, batch_size: int, seed: int,
                      precision: str = "fp32", num_workers: int = 0) -> BatchSource:
    """Mini-batches ``(features, labels)`` of augmented train images, encoded on ``device``
    by the frozen ``encoder`` as ``pool`` asks; the order is a permutation drawn from
    ``(seed, epoch)`` (the same as ``cached_batches``)."""

    def batches(epoch: int, indices: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = indices.cpu()[torch.randperm(indices.numel(), generator=g)].tolist()
        views = AugmentedImages(dataset, augment, img_size, seed=seed, epoch=epoch)
        loader = DataLoader(Subset(views, order), batch_size=batch_size, shuffle=False,
                            num_workers=num_workers, pin_memory=device.type == "cuda")
        amp = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
               if precision == "bf16" else contextlib.nullcontext())
        was_training = encoder.training
        encoder.eval()
        try:
            for images, labels in loader:
                with torch.no_grad(), amp:
                    feats = encode(encoder, images.to(device, non_blocking=True), pool).float()
                yield feats, torch.as_tensor(labels, dtype=torch.int64, device=device)
        finally:
            encoder.train(was_training)

    return batches
