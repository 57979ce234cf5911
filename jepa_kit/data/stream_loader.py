"""The loader of a streamed dataset: single samples from the workers, batches made here.

A batch mixes the streams of every worker (``jepa_kit.data.stream``), so it is batched and
collated in the training process. With workers, that happens in a background thread a couple of
batches ahead, so stacking the views (a copy of every image) overlaps the training step instead
of adding to it; without workers everything stays in the calling thread, one sample at a time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from jepa_kit.data.stream import StreamSamples
from jepa_kit.errors import UserError

#: Batches the background thread makes ahead of the training loop.
_AHEAD = 2


def _identity(item: Any) -> Any:
    return item  # module level: DataLoader workers started with spawn pickle it


class StreamLoader:
    """Batches of a streamed dataset, used like a ``build_loader`` loader: ``set_epoch``,
    ``len``, iterate. Workers make single samples (``StreamSamples``), batched and collated
    here. Workers are started for each iteration (they carry the epoch), once per epoch in
    training.
    """

    def __init__(self, samples: StreamSamples, collate: Callable, *, num_workers: int,
                 pin_memory: bool, prefetch_factor: int | None) -> None:
        streams = samples.layout.streams
        if num_workers > 0 and streams % num_workers:
            raise UserError(f"data.num_workers = {num_workers} must divide data.streams = "
                            f"{streams} (each worker reads whole streams); change "
                            "data.num_workers (it keeps the sample order) or data.streams")
        self.samples = samples
        self.collate = collate
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        # Items are single samples: keep about two batches in flight over the workers.
        per_worker = -(-2 * samples.batch_size // max(num_workers, 1))
        self.prefetch_factor = prefetch_factor or max(2, per_worker)

    @property
    def batch_size(self) -> int:
        return self.samples.batch_size

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.samples.set_epoch(epoch, start_batch)

    def __len__(self) -> int:
        return self.samples.num_batches - self.samples.start_batch

    def __iter__(self) -> Iterator[Any]:
        workers = self.num_workers
        loader = torch.utils.data.DataLoader(
            self.samples, batch_size=None, collate_fn=_identity, num_workers=workers,
            prefetch_factor=self.prefetch_factor if workers > 0 else None)
        batches = self._batches(loader)
        yield from batches if workers == 0 else _ahead(batches, _AHEAD)

    def _batches(self, samples: Any) -> Iterator[Any]:
        pending: list[Any] = []
        for sample in samples:
            pending.append(sample)
            if len(pending) == self.batch_size:
                batch = self.collate(pending)
                pending = []
                yield batch.pin_memory() if self.pin_memory else batch


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _ahead(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """``items``, produced by a background thread up to ``depth`` ahead; its errors are raised
    here. Closing this generator (a loop left early) stops the thread, which closes ``items``
    (and so the DataLoader and its workers) itself: a generator belongs to its thread."""
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            items.close()  # type: ignore[attr-defined]

    thread = threading.Thread(target=produce, name="jepa-kit-stream-batches", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=60)
