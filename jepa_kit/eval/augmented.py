"""Probe features computed on the fly from augmented train images (the papers' protocols).

Cached features (``jepa_kit.eval.features``) see each train image once, through the eval
view. The papers train their probes on augmented views instead, encoding every mini-batch
through the frozen encoder:

* ``"ijepa"``: I-JEPA's linear evaluation ([0], App. B, following DINO/MSN): RandomResizedCrop
  (area 0.08-1) and a horizontal flip.
* ``"vjepa"``: V-JEPA's attentive probe on images ([1], ``evals/image_classification_frozen``):
  timm's training transform with AutoAugment ``original``, bicubic RandomResizedCrop and random
  erasing (p 0.25, per-pixel noise).

Every random number of an image's view comes from ``(seed, epoch, index)``, so a probe sees the
same views whatever the loader workers. The hold-out and val splits are always read through
the eval view (cached features).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from jepa_kit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, TrainTransform, to_uint8_tensor
from jepa_kit.errors import UserError
from jepa_kit.eval.features import encode
from jepa_kit.eval.probe import BatchSource

AUGMENTATIONS: tuple[str, ...] = ("ijepa", "vjepa")


class AugmentedImages(torch.utils.data.Dataset):
    """``dataset``'s images as ``augment`` views at ``img_size``, for one ``epoch``."""

    def __init__(self, dataset: Any, augment: str, img_size: int, *, seed: int,
                 epoch: int = 0) -> None:
        if augment not in AUGMENTATIONS:
            raise UserError(f"--augment {augment!r}: expected one of {', '.join(AUGMENTATIONS)}")
        self.dataset, self.augment, self.seed, self.epoch = dataset, augment, seed, epoch
        if augment == "ijepa":
            self.transform: Any = TrainTransform(img_size, scale=(0.08, 1.0), flip=True)
        else:
            from timm.data import create_transform

            self.transform = create_transform(
                input_size=img_size, is_training=True, auto_augment="original",
                interpolation="bicubic", re_prob=0.25, re_mode="pixel", re_count=1,
                mean=IMAGENET_MEAN, std=IMAGENET_STD)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        key = (self.seed * 1_000_003 + self.epoch) * 10_000_019 + index
        if self.augment == "ijepa":
            return self.transform(image, torch.Generator().manual_seed(key)), label
        from torchvision.transforms.v2.functional import to_pil_image

        # timm's transforms draw from `random` and torch's global RNG: seed both per view,
        # without disturbing the caller's streams.
        state = random.getstate()
        with torch.random.fork_rng(devices=[]):
            random.seed(key)
            torch.manual_seed(key)
            view = self.transform(to_pil_image(to_uint8_tensor(image)))
        random.setstate(state)
        return view, label


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
