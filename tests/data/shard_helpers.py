"""Tiny image folders and their shards for the streaming tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from jepa_kit.data.loader import Collator, build_loader, set_epoch
from jepa_kit.data.shard_dataset import WebDatasetShards, WebDatasetShardsConfig
from jepa_kit.data.shard_writer import write_shards

CLASSES = ("ant", "bee", "cow")


def image_folder(root: Path, per_class: int = 12, broken: int = 0) -> Path:
    """``per_class`` random 32 px PNGs in each class folder; ``broken`` of ``bee`` are not PNGs."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    for i in range(broken):
        (root / "bee" / f"{i:02d}.png").write_bytes(b"not a png at all")
    return root


def shards(tmp: Path, *, shard_size: int = 9, per_class: int = 12, broken: int = 0) -> Path:
    """36 images (3 classes) as 4 shards of 9 by default."""
    out = tmp / "shards"
    write_shards(str(image_folder(tmp / "images", per_class, broken)), str(out),
                 shard_size=shard_size)
    return out


def dataset(root: Path, **options: object) -> WebDatasetShards:
    config = WebDatasetShardsConfig(root=str(root), img_size=32, **{"streams": 2, **options})
    return WebDatasetShards(config)


def index_views(image: object, generator: torch.Generator) -> list[torch.Tensor]:
    """A view whose pixels are the image and whose last value is the seeded draw, so a test
    reads both what was loaded and how it was augmented."""
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()
    pixels[0, 0, 0] = float(torch.randint(0, 2**20, (1,), generator=generator))
    return [pixels]


def batches(data: WebDatasetShards, *, epoch: int = 0, start_batch: int = 0, rank: int = 0,
            world_size: int = 1, num_workers: int = 0, batch_size: int = 4, seed: int = 0,
            ) -> list:
    loader = build_loader(data, index_views, Collator(None, seed, rank), batch_size=batch_size,
                          seed=seed, rank=rank, world_size=world_size, num_workers=num_workers)
    set_epoch(loader, epoch, start_batch)
    return list(loader)


def _content(pixels: torch.Tensor) -> bytes:
    return pixels[1].to(torch.uint8).numpy().tobytes()  # channel 1: untouched by index_views


def sample_table(data: WebDatasetShards) -> dict[bytes, int]:
    """Image content -> its index in the manifest, to name the samples a loader yields."""
    table = {}
    for i in range(data.manifest.num_samples):
        image, _ = data.load(i)
        table[_content(torch.from_numpy(np.array(image)).permute(2, 0, 1))] = i
    return table


def indices(found: list, table: dict[bytes, int]) -> list[tuple[int, int]]:
    """(step, manifest index) of every sample of ``found``, in order."""
    return [(b.step, table[_content(img)]) for b in found for img in b.images]
