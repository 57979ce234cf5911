"""Reading tar shards as a stream: which process reads which shard, in which order, how far.

Each process (rank) reads ``V = data.streams`` streams; the ``W x V`` streams of the job split
an epoch's shards. Per epoch ``e``:

- the shards are permuted by a generator seeded with ``(seed, e)``, the same on every rank, and
  dealt round-robin: global stream ``g = rank * V + s`` reads shards ``g, g + W V, ...`` of it;
- each shard's samples pass through a shuffle buffer of ``data.shuffle_buffer`` samples seeded
  with ``(seed, e, shard)``, reset at every shard (so a shard can be skipped without reading);
- every stream stops after ``L`` samples, the sum of the ``S // (W V)`` smallest shard counts:
  the least any stream can receive in any epoch. All ranks thus load the same number of
  batches (DDP needs it) and the epoch length is known from the manifest. What a stream holds
  beyond ``L`` (at most one shard plus the count differences) is left out that epoch; which
  samples those are changes from epoch to epoch.

With ``B`` the batch size, batch ``b < V floor(L / B)`` of a rank is the next ``B`` samples of
its stream ``b mod V``; the last ``floor(V (L mod B) / B)`` batches are the streams' remainders
in stream order. That makes ``floor(V L / B)`` batches, what ``batches_per_epoch`` gives for
``len(dataset) = W V L``. A DataLoader worker ``w`` of ``N`` reads the streams ``s = w (mod N)``
(``N`` must divide ``V``) and collates their whole batches, which is exactly the order in which
the DataLoader takes items from its workers: the order does not depend on the number of
workers. A resume at batch ``k`` skips, in each stream, the shards consumed whole without
opening them, and reads the partly consumed one without decoding.
"""

from __future__ import annotations

import functools
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from jepa_kit.data.image_folder import MAX_CONSECUTIVE_SKIPS, DataError
from jepa_kit.data.seeds import AUGMENT_TAG, mix_seed, seeded
from jepa_kit.data.shards import Manifest, decode, iter_shard
from jepa_kit.errors import UserError

# Domain tags keep these seed streams apart from the loader's augmentation and mask streams.
_SHARD_ORDER_TAG = 0x5A4D
_SHARD_SHUFFLE_TAG = 0x5B0F


@dataclass(frozen=True)
class StreamLayout:
    """How the shards of ``counts`` feed ``world_size`` ranks of ``streams`` streams each."""

    counts: tuple[int, ...]
    world_size: int
    streams: int

    @property
    def total_streams(self) -> int:
        return self.world_size * self.streams

    @property
    def stream_length(self) -> int:
        """``L``: samples every stream yields per epoch (the least any stream can receive)."""
        return sum(sorted(self.counts)[: len(self.counts) // self.total_streams])

    @property
    def samples_per_rank(self) -> int:
        return self.streams * self.stream_length

    @property
    def samples_per_epoch(self) -> int:
        return self.world_size * self.samples_per_rank

    def check(self, key: str) -> None:
        if len(self.counts) < self.total_streams:
            raise UserError(
                f"{key}: {len(self.counts)} shard(s) cannot feed {self.world_size} process(es) "
                f"x data.streams = {self.streams} stream(s), each stream reads whole shards; "
                f"lower data.streams, or write more, smaller shards (jepa-kit data shard "
                f"--shard-size)")

    def epoch_streams(self, seed: int, epoch: int) -> list[list[int]]:
        """The shard indices of every global stream in epoch ``epoch``, in reading order."""
        g = torch.Generator().manual_seed(mix_seed(_SHARD_ORDER_TAG, seed, epoch))
        order = torch.randperm(len(self.counts), generator=g).tolist()
        return [order[s :: self.total_streams] for s in range(self.total_streams)]


def buffer_shuffle(items: Iterator[Any], size: int, rng: random.Random) -> Iterator[Any]:
    """``items`` through a shuffle buffer of ``size`` (0: unchanged): once full, each new item
    takes the place of a random one, which is emitted; a buffer at least as long as the input
    gives a uniform permutation."""
    if size <= 0:
        yield from items
        return
    buffer: list[Any] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = rng.randrange(size)
        buffer[j], item = item, buffer[j]
        yield item
    while buffer:
        j = rng.randrange(len(buffer))
        buffer[j], buffer[-1] = buffer[-1], buffer[j]
        yield buffer.pop()


def _counted(url: str, expected: int, manifest: Manifest) -> Iterator[tuple[int, dict]]:
    """The raw samples of a shard with their position; a count that disagrees with the
    manifest is an error naming both (the manifest would give a wrong epoch length)."""
    n = 0
    for n, sample in enumerate(iter_shard(url), start=1):
        if n > expected:
            break
        yield n - 1, sample
    if n != expected:
        # Reading stops one sample past the manifest's count (a shard may be remote and
        # large), so a longer shard is known to hold at least that many.
        found = f"at least {n}" if n > expected else f"{n}"
        raise UserError(f"the shard {url} holds {found} samples, its manifest {manifest.path} "
                        f"says {expected}: the manifest does not match the shards; write them "
                        "again with `jepa-kit data shard`")


def raw_stream(manifest: Manifest, shard_ids: list[int], *, skip: int, seed: int, epoch: int,
               buffer: int) -> Iterator[tuple[int, dict, str]]:
    """``(index in the set, raw sample, shard url)`` of one stream from its position ``skip``;
    shards wholly before ``skip`` are not opened, the partly skipped one is read undecoded."""
    offsets = manifest.offsets()
    passed = 0
    for sid in shard_ids:
        shard = manifest.shards[sid]
        if passed + shard.samples <= skip:
            passed += shard.samples
            continue
        rng = random.Random(mix_seed(_SHARD_SHUFFLE_TAG, seed, epoch, sid))
        for position, sample in buffer_shuffle(_counted(shard.url, shard.samples, manifest),
                                               buffer, rng):
            if passed >= skip:
                yield offsets[sid] + position, sample, shard.url
            passed += 1


def decoded_stream(raw: Iterator[tuple[int, dict, str]], skip_corrupt: bool,
                   restart: Callable[[], Iterator[tuple[int, dict, str]]] | None = None,
                   ) -> Iterator[tuple[int, object, int, tuple[str, ...]]]:
    """``(index, RGB image, label, skipped names)`` for each raw sample, in order.

    With ``skip_corrupt`` an unreadable sample is replaced by the next readable one of the
    stream (whose own place still comes later) or, at the stream's end, by the first readable
    one from its start (``restart()``, read again); it is named ``"SHARD:KEY"`` once, at its
    place. Both choices depend only on the stream, not on where a resume started reading. The
    index stays the unreadable sample's, so augmentation does not depend on what replaced it.
    Without ``skip_corrupt`` it is a ``DataError`` naming the shard and the key.
    """
    ahead: deque[tuple[int, dict, str, Any]] = deque()
    while True:
        item = ahead.popleft() if ahead else _pull(raw)
        if item is None:
            return
        index, sample, url, done = item
        try:
            image, label = done if done is not None else decode(sample, url)
            yield index, image, label, ()
            continue
        except DataError:
            if not skip_corrupt:
                raise
        name = f"{url}:{sample.get('__key__')}"  # as shards.sample_error names it
        found, tried, k = None, 0, 0
        while found is None and tried <= MAX_CONSECUTIVE_SKIPS:
            if k == len(ahead):
                pulled = _pull(raw)
                if pulled is None:
                    break
                ahead.append(pulled)
            a_index, a_sample, a_url, a_done = ahead[k]
            k, tried = k + 1, tried + 1
            if a_done is None:
                try:
                    a_done = decode(a_sample, a_url)
                except DataError:
                    continue
                ahead[k - 1] = (a_index, a_sample, a_url, a_done)
            found = a_done
        if found is None and restart is not None:
            for _, a_sample, a_url in restart():
                if tried > MAX_CONSECUTIVE_SKIPS:
                    break
                tried += 1
                try:
                    found = decode(a_sample, a_url)
                    break
                except DataError:
                    continue
        if found is None:
            raise DataError(f"cannot read sample {name}, and none of the {tried} samples tried "
                            f"after it is readable (data.skip_corrupt replaces at most "
                            f"{MAX_CONSECUTIVE_SKIPS} in a row); check the shards")
        image, label = found
        yield index, image, label, (name,)


def _pull(raw: Iterator[tuple[int, dict, str]]) -> tuple[int, dict, str, Any] | None:
    item = next(raw, None)
    return None if item is None else (*item, None)


class StreamBatches(torch.utils.data.IterableDataset):
    """One rank's batches of one epoch, made by DataLoader workers (or the main process).

    Items are ``("batch", Batch)``, a whole batch of one stream collated in the worker, or
    ``("rest", samples)``, the ``loader.Sample`` tuples of a stream's last ``L mod B`` samples
    (each with the step of its remainder batch), which ``StreamLoader`` batches across streams.
    ``set_epoch(epoch, start_batch)`` before each ``iter``: workers are started per iteration
    and receive this object.
    """

    def __init__(self, dataset: Any, views: Callable, collate: Callable, *, seed: int,
                 rank: int, world_size: int, batch_size: int) -> None:
        self.dataset = dataset
        self.views = views
        self.collate = collate
        self.seed = seed
        self.rank = rank
        self.layout: StreamLayout = dataset.stream_layout(world_size)
        self.batch_size = batch_size
        length, v = self.layout.stream_length, self.layout.streams
        #: Whole batches of one stream each, then batches of the streams' remainders.
        self.full_batches = v * (length // batch_size)
        self.rest_batches = v * (length % batch_size) // batch_size
        self.num_batches = self.full_batches + self.rest_batches  # floor(V L / B)
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.num_batches:
            raise ValueError(f"start_batch {start_batch} is not in [0, {self.num_batches}]")
        self.epoch, self.start_batch = epoch, start_batch

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        v, bs, first = self.layout.streams, self.batch_size, self.start_batch
        per_stream, rem = divmod(self.layout.stream_length, bs)
        first_step = self.epoch * self.num_batches
        # The DataLoader takes item q from worker q mod N: item q is batch first + q, then
        # stream s's remainder is item full_batches - first + s. N divides V (and so
        # full_batches), so both rules give worker w the streams s = base + w (mod N).
        base = min(first, self.full_batches)
        streams: dict[int, Iterator] = {}

        def read(s: int, skip: int) -> Iterator:
            if s not in streams:
                streams[s] = self._stream(s, skip)
            return streams[s]

        for b in range(first + worker, self.full_batches, workers):  # base = first here
            s = b % v
            stream = read(s, (b // v) * bs)
            yield "batch", self.collate([self._sample(stream, first_step + b) for _ in range(bs)])
        done_rest = max(0, first - self.full_batches)
        if self.rest_batches <= done_rest:
            return
        for s in range(v):
            if (s - base) % workers != worker:
                continue
            # Samples of the remainder batches consumed before a resume: skipped unread.
            consumed = min(rem, max(0, done_rest * bs - s * rem))
            stream = read(s, per_stream * bs + consumed)
            samples = []
            for t in range(consumed, rem):
                j = (s * rem + t) // bs  # which remainder batch
                if j >= self.rest_batches:
                    break
                samples.append(self._sample(stream, first_step + self.full_batches + j))
            yield "rest", samples

    def _stream(self, s: int, skip: int) -> Iterator:
        cfg = self.dataset.config
        shards = self.layout.epoch_streams(self.seed, self.epoch)[self.rank * self.layout.streams
                                                                  + s]
        read = functools.partial(raw_stream, self.dataset.manifest, shards, seed=self.seed,
                                 epoch=self.epoch, buffer=cfg.shuffle_buffer)
        return decoded_stream(read(skip=skip), cfg.skip_corrupt,
                              restart=functools.partial(read, skip=0))

    def _sample(self, stream: Iterator, step: int) -> tuple:
        found = next(stream, None)
        if found is None:  # cannot happen when the manifest is right: counts are checked
            raise UserError(f"a stream of rank {self.rank} ended early; check the manifest")
        index, image, label, names = found
        views = self.views(image, seeded(AUGMENT_TAG, self.seed, self.epoch, index))
        return views, label, step, self.epoch, len(names), names
