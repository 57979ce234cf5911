"""V-JEPA's evaluation defaults: the augmented views its attentive probe trains on images.

timm's training transform with AutoAugment ``original``, bicubic RandomResizedCrop and random
erasing (p 0.25, per-pixel noise), as the official ``evals/image_classification_frozen``.
``jepa-kit eval ... --augment vjepa`` finds this through ``VJEPA.eval_augmentation``.

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import random

import torch

from jepa_kit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_uint8_tensor


class VJEPAProbeViews:
    """One augmented view of an image, drawn from an integer ``key`` alone."""

    #: What ``--augment vjepa`` does, for help texts.
    summary = "AutoAugment + random erasing, V-JEPA's attentive protocol"

    def __init__(self, img_size: int) -> None:
        from timm.data import create_transform

        self.transform = create_transform(
            input_size=img_size, is_training=True, auto_augment="original",
            interpolation="bicubic", re_prob=0.25, re_mode="pixel", re_count=1,
            mean=IMAGENET_MEAN, std=IMAGENET_STD)

    def __call__(self, image: torch.Tensor, key: int) -> torch.Tensor:
        from torchvision.transforms.v2.functional import to_pil_image

        # timm's transforms draw from `random` and torch's global RNG: seed both per view,
        # without disturbing the caller's streams.
        state = random.getstate()
        with torch.random.fork_rng(devices=[]):
            random.seed(key)
            torch.manual_seed(key)
            view = self.transform(to_pil_image(to_uint8_tensor(image)))
        random.setstate(state)
        return view
