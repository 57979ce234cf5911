"""WebDataset tar shards as a training set that is streamed, not listed.

For data too large for a folder: each process reads whole shards front to back (sequential I/O,
local disk or any URL WebDataset opens), no process holds a file list, and the epoch length
comes from the manifest ``jepa-kit data shard`` writes. The order, the split over processes
and workers, and resuming mid-epoch are ``jepa_kit.data.stream``'s; ``build_loader`` picks that
path for any dataset with a ``stream_layout`` method.

Indexing (``dataset[i]``, sample ``i`` of the manifest) reads local shards by their tar headers:
feature extraction and the conformance checks use it, training does not.
"""

from __future__ import annotations

import bisect
from typing import Literal

import torch
from PIL import Image
from pydantic import Field

from jepa_kit.data.base import Dataset, DatasetConfig
from jepa_kit.data.image_folder import MAX_CONSECUTIVE_SKIPS, DataError
from jepa_kit.data.shards import RandomAccess, decode, read_manifest
from jepa_kit.data.stream import StreamLayout
from jepa_kit.errors import UserError


class WebDatasetShardsConfig(DatasetConfig):
    """Options of a dataset of WebDataset tar shards with a jepa-kit manifest."""

    kind: Literal["webdataset"] = "webdataset"
    root: str = Field(
        ..., min_length=1,
        description="Folder of tar shards written by `jepa-kit data shard` (it holds "
        "manifest.json), or the manifest file itself.",
    )
    shards: list[str] | None = Field(
        None, min_length=1,
        description="Where to read the shards from (paths or WebDataset URLs: https://..., "
        "pipe:...); each file name must be in the manifest, which gives its count. None: every "
        "shard of the manifest, beside it.",
    )
    val_root: str | None = Field(
        None, min_length=1,
        description="Shards of the validation images (same classes), for kNN evaluation.",
    )
    streams: int = Field(
        4, ge=1, le=1024,
        description="Shard streams each process reads in parallel; data.num_workers must divide "
        "it. Part of the sample order (num_workers is not): keep it when resuming.",
    )
    shuffle_buffer: int = Field(
        1000, ge=0, le=1_000_000,
        description="Samples held by the seeded shuffle inside each shard (0: file order); at "
        "least the shard size gives a full permutation of every shard.",
    )
    skip_corrupt: bool = Field(
        False, description="Replace unreadable samples by the next readable one and count them."
    )


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class WebDatasetShards(Dataset):
    """WebDataset tar shards and their manifest, streamed in training (docs/data.md).

    ``stream_layout`` tells ``build_loader`` to stream; indexing serves feature extraction.

    ``len()`` is the number of samples one epoch uses over all ``world_size`` processes (the
    world size of ``torch.distributed`` when it is initialised, else 1; ``build_loader`` sets
    it): ``batches_per_epoch(len(dataset), B, W)`` is then each rank's batch count. A
    validation set (``train=False``) has the length of its manifest; a map-style reader of the
    training set that must see every sample uses ``num_samples``.
    """

    Config = WebDatasetShardsConfig

    def __init__(self, config: WebDatasetShardsConfig, train: bool = True, seed: int = 0) -> None:
        self.config = config
        self.train = train
        self.skipped = 0
        self.last_skipped: tuple[str, ...] = ()
        self.manifest = read_manifest(config.root, "data.root", config.shards)
        self.classes = list(self.manifest.classes)
        if not train:
            if config.val_root is None:
                raise UserError(f"data.root = {config.root!r} (webdataset) has no validation "
                                "split; set data.val_root to shards of validation images "
                                "(jepa-kit data shard VAL_FOLDER --out DIR)")
            val = read_manifest(config.val_root, "data.val_root")
            if list(val.classes) != self.classes:
                raise UserError(f"data.val_root = {config.val_root!r} has classes "
                                f"{list(val.classes)[:5]}..., data.root {self.classes[:5]}...; "
                                "the two must be sharded from folders with the same classes")
            self.manifest = val
        self.world_size = _world_size()
        self._offsets = self.manifest.offsets()
        self._access = RandomAccess(self.manifest)
        if train:
            self.stream_layout(self.world_size).check("data.root")

    def stream_layout(self, world_size: int) -> StreamLayout:
        """How the shards split over ``world_size`` processes of ``data.streams`` streams."""
        return StreamLayout(tuple(s.samples for s in self.manifest.shards), world_size,
                            self.config.streams)

    @property
    def num_samples(self) -> int:
        """Samples in the manifest, all of which indexing reaches (``len`` may be fewer)."""
        return self.manifest.num_samples

    def __len__(self) -> int:
        if not self.train:
            return self.manifest.num_samples
        return self.stream_layout(self.world_size).samples_per_epoch

    def load(self, index: int) -> tuple[Image.Image, int]:
        """Sample ``index`` of the manifest as RGB; ``DataError`` naming shard and key."""
        if not 0 <= index < self.manifest.num_samples:
            raise IndexError(f"sample {index} of {self.manifest.num_samples}")
        shard = bisect.bisect_right(self._offsets, index) - 1
        sample = self._access.sample(shard, index - self._offsets[shard])
        return decode(sample, self.manifest.shards[shard].url)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        self.last_skipped = ()
        if not self.config.skip_corrupt:
            return self.load(index)
        failed: list[str] = []
        total = self.manifest.num_samples
        for offset in range(min(MAX_CONSECUTIVE_SKIPS + 1, total)):
            try:
                image = self.load((index + offset) % total)
            except DataError as exc:
                failed.append(str(exc.path))
                continue
            self.skipped += len(failed)
            self.last_skipped = tuple(failed)
            return image
        raise DataError(f"sample {index} and the {len(failed) - 1} after it are unreadable, "
                        f"more than data.skip_corrupt replaces in a row; the first is "
                        f"{failed[0]}")
