"""Fine-tuning views: timm's train transform (RandAugment, random erasing), seeded per sample.

The train view is timm's ``create_transform(is_training=True)`` as MAE's fine-tuning code
calls it ([0], App. A.2): random resized crop (bicubic), horizontal flip, RandAugment,
ImageNet normalisation, random erasing. RandAugment draws from Python's ``random`` and numpy's
global generator, random erasing from torch's, so all three are seeded from the sample's
generator (itself seeded by ``(seed, epoch, index)``) for the call and restored afterwards:
an image's view is the same whatever worker makes it and whether the run was resumed, and the
training process's own streams (drop path) are left untouched.

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from timm.data import create_transform

from jepa_kit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_uint8_tensor
from jepa_kit.views.base import Views


def train_transform(*, img_size: int, rand_augment: str, crop_scale: tuple[float, float],
                    re_prob: float) -> Callable[[Image.Image], Any]:
    """timm's training transform with MAE's settings; ``rand_augment='none'`` turns it off."""
    spec = None if rand_augment in ("", "none") else rand_augment
    try:
        return _patch_posterize(create_transform(
            img_size, is_training=True, scale=crop_scale, hflip=0.5, color_jitter=0.0,
            auto_augment=spec, interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD,
            re_prob=re_prob, re_mode="pixel", re_count=1))
    except (AssertionError, ValueError, KeyError) as exc:
        raise ValueError(f"rand_augment={rand_augment!r} is not a spec timm accepts "
                         f"(e.g. 'rand-m9-mstd0.5-inc1'): {exc}") from None


def _posterize(img: Image.Image, bits_to_keep: int, **_: Any) -> Image.Image:
    """timm's posterize, with 0 bits giving the black image Pillow < 11 gave (and MAE trained
    with): timm's ``PosterizeIncreasing`` asks for 0 bits at magnitude 10, which
    ``rand-m9-mstd0.5`` reaches, and newer Pillow refuses that."""
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep) if bits_to_keep < 8 else img


def _patch_posterize(transform: Any) -> Any:
    """Give the RandAugment ops inside ``transform`` the 0-bit-safe posterize."""
    for step in getattr(transform, "transforms", ()):
        for op in getattr(step, "ops", ()):
            if str(getattr(op, "name", "")).startswith("Posterize"):
                op.aug_fn = _posterize
    return transform


def to_pil(image: object) -> Image.Image:
    """Any image a jepa-kit dataset returns (PIL or uint8 tensor/array) as an RGB PIL image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    x = to_uint8_tensor(image)  # (3, H, W) uint8
    return Image.fromarray(x.permute(1, 2, 0).contiguous().numpy(), "RGB")


class RandAugmentView(Views):
    """``[one augmented view of img_size]`` per image (MAE's fine-tuning input)."""

    def __init__(self, *, img_size: int, rand_augment: str, crop_scale: tuple[float, float],
                 re_prob: float) -> None:
        self.sizes = (img_size,)
        self.transform = train_transform(img_size=img_size, rand_augment=rand_augment,
                                         crop_scale=crop_scale, re_prob=re_prob)

    def __call__(self, image: object, generator: torch.Generator) -> list[torch.Tensor]:
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                random.seed(seed)
                np.random.seed(seed % 2**32)
                torch.manual_seed(seed)
                return [self.transform(to_pil(image))]
        finally:
            random.setstate(state)
            np.random.set_state(np_state)

    def __repr__(self) -> str:
        return f"RandAugmentView({self.transform!r})"
