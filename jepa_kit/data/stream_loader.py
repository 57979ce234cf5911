"""The loader of a streamed dataset: ``StreamBatches`` run by DataLoader workers.

Workers collate whole batches as for a map-style dataset, so the training process only
receives them. The few batches made of the streams' remainders (fewer than ``data.streams`` an
epoch) are collated here, after the whole batches, because they mix the streams of several
workers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch

from jepa_kit.data.stream import StreamBatches
from jepa_kit.data.workers import WorkerInit
from jepa_kit.errors import UserError


def _identity(item: Any) -> Any:
    return item  # module level: DataLoader workers started with spawn pickle it


class StreamLoader:
    """Batches of a streamed dataset, used like a ``build_loader`` loader: ``set_epoch``,
    ``len``, iterate. Workers are started for each iteration (they carry the epoch), once per
    epoch in training.
    """

    def __init__(self, batches: StreamBatches, collate: Callable, *, num_workers: int,
                 pin_memory: bool, prefetch_factor: int | None) -> None:
        streams = batches.layout.streams
        if num_workers > 0 and streams % num_workers:
            raise UserError(f"data.num_workers = {num_workers} must divide data.streams = "
                            f"{streams} (each worker reads whole streams); change "
                            "data.num_workers (it keeps the sample order) or data.streams")
        self.batches = batches
        self.collate = collate
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor

    @property
    def batch_size(self) -> int:
        return self.batches.batch_size

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.batches.set_epoch(epoch, start_batch)

    def __len__(self) -> int:
        return self.batches.num_batches - self.batches.start_batch

    def __iter__(self) -> Iterator[Any]:
        workers = self.num_workers
        loader = torch.utils.data.DataLoader(
            self.batches, batch_size=None, collate_fn=_identity, num_workers=workers,
            prefetch_factor=self.prefetch_factor if workers > 0 else None,
            worker_init_fn=WorkerInit())  # stop signals are the training process's to handle
        rest: list[Any] = []
        for kind, item in loader:
            if kind == "batch":
                yield item.pin_memory() if self.pin_memory else item
            else:
                rest.extend(item)
        # The remainders arrive in stream order, each sample with its batch's step.
        for _, group in itertools.groupby(rest, key=lambda sample: sample[2]):
            batch = self.collate(list(group))
            yield batch.pin_memory() if self.pin_memory else batch
