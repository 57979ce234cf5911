"""Fine-tuning batches: timm's train transform (RandAugment, random erasing), timm's Mixup.

The train view is timm's ``create_transform(is_training=True)`` as MAE's fine-tuning code
calls it ([0], App. A.2): random resized crop (bicubic), horizontal flip, RandAugment,
ImageNet normalisation, random erasing. Validation uses jepa-kit's ``EvalTransform``, the view
every other protocol scores. RandAugment draws from Python's ``random``, Mixup from numpy's global
generator, drop path and random erasing from torch's, so all three are reseeded from
``(seed, epoch, rank)`` at the start of every epoch (and the loader's workers from a generator
seeded the same way): an epoch's batches and
augmentations are the same whether the run was resumed or not.

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from timm.data import Mixup, create_transform
from torch.utils.data import DataLoader, DistributedSampler

from jepa_kit.data.loader import mix_seed
from jepa_kit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_uint8_tensor
from jepa_kit.eval.finetune_config import FinetuneConfig

_EPOCH_TAG = 0xF17E


def train_transform(config: FinetuneConfig, img_size: int) -> Callable[[Image.Image], Any]:
    """timm's training transform with ``config``'s RandAugment, crop scale and erasing."""
    spec = None if config.rand_augment in ("", "none") else config.rand_augment
    try:
        return _patch_posterize(create_transform(
            img_size, is_training=True, scale=config.crop_scale, hflip=0.5,
            color_jitter=0.0, auto_augment=spec, interpolation="bicubic",
            mean=IMAGENET_MEAN, std=IMAGENET_STD, re_prob=config.re_prob, re_mode="pixel",
            re_count=1))
    except (AssertionError, ValueError, KeyError) as exc:
        raise ValueError(f"rand_augment={config.rand_augment!r} is not a spec timm accepts "
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


class TransformedSamples(torch.utils.data.Dataset):
    """``(transform(PIL image), label)`` for every image of ``dataset``."""

    def __init__(self, dataset: torch.utils.data.Dataset, transform: Callable) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        return self.transform(to_pil(image)), int(label)


def _seed_worker(worker_id: int) -> None:
    # DataLoader seeds torch per worker from its generator; RandAugment reads ``random``.
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class TrainLoader:
    """One rank's shuffled, fully batched train loader; ``epoch(e)`` seeds and returns it."""

    def __init__(self, dataset: torch.utils.data.Dataset, config: FinetuneConfig, *,
                 img_size: int, rank: int = 0, world_size: int = 1,
                 pin_memory: bool = False) -> None:
        self.config = config
        self.rank = rank
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                          shuffle=True, seed=config.seed, drop_last=True)
        self.samples = TransformedSamples(dataset, train_transform(config, img_size))
        self.pin_memory = pin_memory
        self.steps_per_epoch = len(self.sampler) // config.batch_size

    def epoch(self, epoch: int) -> DataLoader:
        """The loader of ``epoch`` with every random stream it uses seeded for it."""
        seed = mix_seed(_EPOCH_TAG, self.config.seed, epoch, self.rank)
        random.seed(seed)
        np.random.seed(seed % 2**32)  # timm's Mixup draws lambda from numpy's global RNG
        torch.manual_seed(seed % 2**63)  # drop path and random erasing draw from torch's
        self.sampler.set_epoch(epoch)
        workers = self.config.num_workers
        return DataLoader(self.samples, batch_size=self.config.batch_size, sampler=self.sampler,
                          drop_last=True, num_workers=workers, pin_memory=self.pin_memory,
                          worker_init_fn=_seed_worker if workers else None,
                          generator=torch.Generator().manual_seed(seed % 2**63))


def build_mixup(config: FinetuneConfig, num_classes: int) -> Mixup | None:
    """timm's Mixup/CutMix with label smoothing folded into its soft targets; None when off."""
    if not config.mixes:
        return None
    return Mixup(mixup_alpha=config.mixup, cutmix_alpha=config.cutmix,
                 prob=config.mixup_prob, switch_prob=config.mixup_switch_prob, mode="batch",
                 label_smoothing=config.smoothing, num_classes=num_classes)
