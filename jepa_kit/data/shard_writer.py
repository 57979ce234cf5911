"""Writing an image folder as WebDataset tar shards plus the manifest that counts them.

The files are listed as ``image_folder`` lists them (class sub-folders give labels in sorted
folder order), shuffled once with a fixed seed so that every shard mixes the classes (a stream
reads a shard front to back: class-sorted shards would give batches of a few classes), and cut
into shards whose sizes differ by at most one sample: the epoch length rule
(``jepa_kit.data.stream``) drops the fewest samples when shards are even. Image bytes are
copied as they are, not decoded: an unreadable file becomes an unreadable sample, which
``data.skip_corrupt`` then handles as ``image_folder`` does.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from jepa_kit.data.image_folder import ImageFolder, ImageFolderConfig
from jepa_kit.data.shards import MANIFEST, manifest_record
from jepa_kit.errors import UserError

SHARD_NAME = "shard-{:06d}.tar"


@dataclass(frozen=True)
class ShardSummary:
    """What ``write_shards`` wrote: the manifest's path, the shard sizes and the classes."""

    manifest: Path
    shard_samples: list[int]
    classes: list[str]

    @property
    def num_samples(self) -> int:
        return sum(self.shard_samples)


def even_sizes(total: int, shard_size: int) -> list[int]:
    """``ceil(total / shard_size)`` shard sizes, none above ``shard_size``, differing by <= 1."""
    count = math.ceil(total / shard_size)
    base, extra = divmod(total, count)
    return [base + (i < extra) for i in range(count)]


def write_shards(folder: str, out: str, *, shard_size: int = 1000, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> ShardSummary:
    """Write the images of ``folder`` as tar shards in ``out`` and ``out/manifest.json``.

    Sample ``i`` of the shuffled list gets the key ``f"{i:08d}"``, so a key is the sample's
    index in the set. ``progress(done, total)`` is called after each shard. The manifest is
    written last: a folder without one is an interrupted write.
    """
    from webdataset.writer import TarWriter

    if shard_size < 1:
        raise UserError(f"--shard-size must be >= 1, got {shard_size}")
    source = Path(folder).expanduser()
    if not source.is_dir():
        what = "is not a folder" if source.exists() else "does not exist"
        raise UserError(f"IMAGE_FOLDER {folder!r} {what}; give a folder of images (one "
                        "sub-folder per class, or images directly)")
    target = Path(out).expanduser()
    if target.exists() and not target.is_dir():
        raise UserError(f"--out {out!r} is a file; give a new or empty folder")
    if target.is_dir() and any(target.iterdir()):
        raise UserError(f"--out {out!r} is not empty; give a new or empty folder (shards of "
                        "different writes must not mix)")
    try:
        images = ImageFolder(ImageFolderConfig(root=str(source)), train=True)
    except UserError as exc:  # its message names data.root, here the argument is the folder
        raise UserError(str(exc).replace("data.root", "IMAGE_FOLDER")) from None
    order = torch.randperm(len(images.samples), generator=torch.Generator().manual_seed(seed))
    samples = [images.samples[i] for i in order.tolist()]
    sizes = even_sizes(len(samples), shard_size)
    target.mkdir(parents=True, exist_ok=True)
    records, start = [], 0
    for number, size in enumerate(sizes):
        name = SHARD_NAME.format(number)
        partial = target / f".{name}.partial"
        # mtime fixed: the same folder gives byte-identical shards.
        with TarWriter(str(partial), encoder=False, mtime=0.0) as writer:
            for key in range(start, start + size):
                path, label = samples[key]
                ext = path.suffix.lower().lstrip(".")
                writer.write({"__key__": f"{key:08d}", ext: path.read_bytes(),
                              "cls": str(label).encode()})
        os.replace(partial, target / name)
        records.append({"name": name, "samples": size, "bytes": (target / name).stat().st_size})
        start += size
        if progress is not None:
            progress(number + 1, len(sizes))
    record = manifest_record(records, images.classes, source=str(source.resolve()), seed=seed)
    manifest = target / MANIFEST
    manifest.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return ShardSummary(manifest, sizes, list(images.classes))
