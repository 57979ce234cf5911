"""Batches for pre-training and feature extraction, reproducible in any worker layout.

Every random draw is seeded from what a sample *is*, never from which worker made it:
the augmentation of an image from ``(seed, epoch, index)``, the masks of a batch from
``(seed, global step, rank)``. The sampler carries the epoch and the first batch to load, so a
resumed run skips the consumed batches without reading them, and the same ``DataLoader`` (with
persistent workers) is reused across epochs: ``set_epoch(loader, epoch, start_batch)`` before
each ``iter(loader)``. That works because a DataLoader iterates its batch sampler in the main
process and only sends indices to the workers.

A streamed dataset (tar shards) gets a loader of its own with the same use and the same seeds:
``jepa_kit.data.stream`` says how its order, split over ranks and workers, and resume work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from jepa_kit.data.batch import Batch as Batch  # re-exported: methods import it from here
from jepa_kit.data.batch import Collator as Collator
from jepa_kit.data.batch import Sample as Sample
from jepa_kit.data.seeds import AUGMENT_TAG, MASK_TAG, seeded
from jepa_kit.data.seeds import mix_seed as mix_seed  # re-exported: imported from here
from jepa_kit.data.workers import WorkerInit

# The seed streams (kept importable here: plug-ins and tools read them from the loader).
_AUGMENT_TAG, _MASK_TAG, _seeded = AUGMENT_TAG, MASK_TAG, seeded


#: The file in a run folder that lists the unreadable images ``data.skip_corrupt`` replaced.
SKIPPED_FILES = "skipped_files.txt"


def batches_per_epoch(
    num_samples: int, batch_size: int, world_size: int = 1, drop_last: bool = True
) -> int:
    """Batches each rank loads per epoch (equal on every rank).

    As ``DistributedSampler``: the shuffled indices are trimmed (``drop_last``) or padded by
    wrapping around to a multiple of ``world_size``; each rank's share is then cut into batches,
    the last partial one dropped with ``drop_last``.
    """
    if drop_last:
        per_rank = num_samples // world_size
        return per_rank // batch_size
    per_rank = -(-num_samples // world_size)
    return -(-per_rank // batch_size)


class EpochBatchSampler(Sampler[list[tuple[int, int, int]]]):
    """Yields one rank's batches of one epoch as lists of ``(global_step, epoch, index)``.

    The permutation comes from a generator seeded with ``(seed, epoch)``, identical on every
    rank; rank ``r`` takes positions ``r, r + W, ...`` of it. ``global_step`` is
    ``epoch * batches_per_epoch + batch_idx``, the same on every rank. Iteration starts at
    ``start_batch`` without touching the skipped batches' data.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        drop_last: bool = True,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        if batch_size < 1:
            raise ValueError(f"train.batch_size must be >= 1, got {batch_size}")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.num_batches = batches_per_epoch(num_samples, batch_size, world_size, drop_last)
        if self.num_batches == 0:
            raise ValueError(
                f"a dataset of {num_samples} images gives no full batch of {batch_size} per rank "
                f"on {world_size} rank(s); lower train.batch_size or use more data"
            )
        self.set_epoch(epoch, start_batch)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Choose the epoch (and first batch) the next iteration yields."""
        if not 0 <= start_batch <= self.num_batches:
            raise ValueError(f"start_batch {start_batch} is not in [0, {self.num_batches}]")
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return self.num_batches - self.start_batch

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        epoch, start = self.epoch, self.start_batch
        order = torch.randperm(self.num_samples, generator=_seeded(self.seed, epoch))
        if self.drop_last:
            # Trimming the tail, as DistributedSampler(drop_last=True), then whole batches only.
            mine = order[self.rank :: self.world_size][: self.num_batches * self.batch_size]
        else:
            # Padding by wrapping around, as DistributedSampler (more than once if tiny).
            total = -(-self.num_samples // self.world_size) * self.world_size
            order = order.repeat(-(-total // self.num_samples))[:total]
            mine = order[self.rank :: self.world_size]
        mine_list = mine.tolist()
        first_step = epoch * self.num_batches
        for b in range(start, self.num_batches):
            chunk = mine_list[b * self.batch_size : (b + 1) * self.batch_size]
            yield [(first_step + b, epoch, i) for i in chunk]


class AugmentedSamples(torch.utils.data.Dataset):
    """Loads ``dataset[index]`` and makes its views with a generator seeded by
    ``(seed, epoch, index)``; indexed by the sampler's ``(global_step, epoch, index)``.

    Returns ``(views, label, global_step, epoch, skipped, skipped_files)``: how many unreadable
    files the dataset replaced while loading this sample (its ``skipped`` counter's increase)
    and their names (its ``last_skipped``, when it keeps one).
    """

    def __init__(self, dataset: torch.utils.data.Dataset, transform: Callable, seed: int) -> None:
        self.dataset = dataset
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int, int]) -> Sample:
        step, epoch, index = key
        before = getattr(self.dataset, "skipped", 0)
        generator = _seeded(_AUGMENT_TAG, self.seed, epoch, index)
        # A dataset whose items have a random part (a video's clip position) draws it from the
        # sample's generator too; evaluation reads dataset[index], its deterministic item.
        random_item = getattr(self.dataset, "random_item", None)
        image, label = random_item(index, generator) if random_item else self.dataset[index]
        skipped = getattr(self.dataset, "skipped", 0) - before
        names = tuple(getattr(self.dataset, "last_skipped", ())) if skipped else ()
        views = self.transform(image, generator)
        return views, label, step, epoch, skipped, names


def write_skipped_files(run_dir: Path, names: Iterable[str]) -> Path:
    """Append ``names`` not listed yet to ``run_dir/skipped_files.txt``, one per line.

    For the unreadable images ``data.skip_corrupt`` replaced (``Batch.skipped_files``): each
    file is listed once however often it is skipped, across calls and resumed runs. Nothing is
    written (nor the file made) when every name is listed already. Returns the file's path.
    """
    path = Path(run_dir) / SKIPPED_FILES
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    listed = set(text.splitlines())
    new = [n for n in dict.fromkeys(names) if n not in listed]
    if new:
        torn = text and not text.endswith("\n")  # a kill mid-append: finish that line
        with path.open("a", encoding="utf-8") as f:
            f.write("\n" * bool(torn) + "".join(f"{n}\n" for n in new))
    return path


def build_loader(
    dataset: torch.utils.data.Dataset,
    views: Callable[[object, torch.Generator], list[torch.Tensor]],
    collate: Collator,
    *,
    batch_size: int,
    seed: int,
    epoch: int = 0,
    rank: int = 0,
    world_size: int = 1,
    start_batch: int = 0,
    num_workers: int = 2,
    pin_memory: bool = False,
    drop_last: bool = True,
    persistent_workers: bool | None = None,
    prefetch_factor: int | None = None,
) -> DataLoader:
    """A pre-training loader yielding ``Batch``; reuse it across epochs with ``set_epoch``.

    ``views`` makes a sample's views (``jepa_kit.views``); ``collate`` (seeded with the same
    ``seed`` and ``rank``) makes the batch.

    ``persistent_workers`` defaults to ``num_workers > 0``: the workers (and the dataset copy
    each holds) live for the whole run instead of being forked again every epoch.

    A dataset with a ``stream_layout`` method (``webdataset`` shards) is streamed instead, by a
    ``jepa_kit.data.stream_loader.StreamLoader`` used the same way (``jepa_kit.data.stream``
    says how shards split over ranks and workers and how a resume skips what was read).
    """
    if hasattr(dataset, "stream_layout"):
        return _stream_loader(dataset, views, collate, batch_size=batch_size, seed=seed,
                              epoch=epoch, rank=rank, world_size=world_size,
                              start_batch=start_batch, num_workers=num_workers,
                              pin_memory=pin_memory, prefetch_factor=prefetch_factor)
    sampler = EpochBatchSampler(
        len(dataset),  # type: ignore[arg-type]
        batch_size,
        seed,
        epoch=epoch,
        rank=rank,
        world_size=world_size,
        start_batch=start_batch,
        drop_last=drop_last,
    )
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    return DataLoader(
        AugmentedSamples(dataset, views, seed),
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        worker_init_fn=WorkerInit(),  # stop signals are the training process's to handle
    )


def _stream_loader(dataset: Any, views: Callable, collate: Collator, *, batch_size: int,
                   seed: int, epoch: int, rank: int, world_size: int, start_batch: int,
                   num_workers: int, pin_memory: bool, prefetch_factor: int | None) -> Any:
    from jepa_kit.data.stream import StreamBatches
    from jepa_kit.data.stream_loader import StreamLoader

    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    if batch_size < 1:
        raise ValueError(f"train.batch_size must be >= 1, got {batch_size}")
    dataset.world_size = world_size  # so len(dataset) is this layout's epoch
    layout = dataset.stream_layout(world_size)
    layout.check("data.root")
    batches = StreamBatches(dataset, views, collate, seed=seed, rank=rank, world_size=world_size,
                            batch_size=batch_size)
    # The trainer counts batches_per_epoch(len(dataset), ...): the same number by construction.
    assert batches.num_batches == batches_per_epoch(len(dataset), batch_size, world_size)
    if batches.num_batches == 0:
        raise ValueError(
            f"the shards give each of {world_size} rank(s) {layout.samples_per_rank} samples an "
            f"epoch, no full batch of {batch_size}; lower train.batch_size or use more data")
    batches.set_epoch(epoch, start_batch)
    return StreamLoader(batches, collate, num_workers=num_workers, pin_memory=pin_memory,
                        prefetch_factor=prefetch_factor)


def set_epoch(loader: DataLoader, epoch: int, start_batch: int = 0) -> None:
    """Point a ``build_loader`` loader at ``epoch``; call before ``iter(loader)``."""
    from jepa_kit.data.stream_loader import StreamLoader

    if isinstance(loader, StreamLoader):
        loader.set_epoch(epoch, start_batch)
        return
    sampler = loader.batch_sampler
    assert isinstance(sampler, EpochBatchSampler), "not a loader made by build_loader"
    sampler.set_epoch(epoch, start_batch)


class _EvalSamples(torch.utils.data.Dataset):
    def __init__(self, dataset: torch.utils.data.Dataset, transform: Callable) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        return self.transform(image), label


def build_eval_loader(
    dataset: torch.utils.data.Dataset,
    transform: Callable,
    *,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """``(images (B, 3, S, S), labels (B,) int64)`` in dataset order, for feature extraction.

    With ``world_size > 1`` rank ``r`` reads indices ``r, r + W, ...`` (no padding: shares may
    differ by one image), so gathered features cover every image exactly once.
    """
    # A streamed training set's len() is its epoch; feature extraction reads every sample.
    size = getattr(dataset, "num_samples", None) or len(dataset)  # type: ignore[arg-type]
    indices = list(range(rank, size, world_size))
    return DataLoader(
        torch.utils.data.Subset(_EvalSamples(dataset, transform), indices),
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=WorkerInit(),
    )
