"""One pre-training batch and the collate function that makes it in the loader workers.

A batch is what every method gets: its views, labels, global step and epoch, plus the extras
its method adds while collating (I-JEPA and V-JEPA: ``masks``, the patch indices their masker
drew). The data layer knows no extra by meaning; it only moves their tensors to the device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch

from jepa_kit.data.seeds import MASK_TAG, seeded

#: One loaded sample: its views, label, global step, epoch, skipped-file count and names.
Sample = tuple[list[torch.Tensor], int, int, int, int, tuple[str, ...]]


class Batch:
    """One pre-training batch.

    ``views`` holds one float tensor (B, 3, s, s) per view the method's views transform makes
    (I-JEPA: one; multi-crop: globals then locals); ``labels`` (B,) int64 (-1 when
    unlabelled); the global batch counter ``step`` and the ``epoch``. ``extras`` are the
    method's own parts of the batch by name (tensors, or dataclasses / sequences of them, which
    ``to`` and ``pin_memory`` move too); ``masks`` is ``extras["masks"]`` (None when absent),
    and ``masks=`` a shorthand for it. ``skipped`` counts unreadable files that were replaced
    while loading this batch (``data.skip_corrupt``) and ``skipped_files`` names them, in
    sample order (a file replaced twice is named twice)."""

    def __init__(self, views: list[torch.Tensor], labels: torch.Tensor, masks: Any = None,
                 step: int = 0, epoch: int = 0, skipped: int = 0,
                 skipped_files: tuple[str, ...] = (),
                 extras: Mapping[str, Any] | None = None) -> None:
        self.views = views
        self.labels = labels
        self.step = step
        self.epoch = epoch
        self.skipped = skipped
        self.skipped_files = skipped_files
        self.extras: dict[str, Any] = dict(extras or {})
        if masks is not None:
            self.extras["masks"] = masks

    @property
    def masks(self) -> Any:
        """``extras["masks"]``: the patch indices a masking method's collator drew, or None."""
        return self.extras.get("masks")

    @property
    def images(self) -> torch.Tensor:
        """The first view (B, 3, S, S): I-JEPA's only one, a multi-crop's first global."""
        return self.views[0]

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        extras = {name: _map_value(value, fn) for name, value in self.extras.items()}
        return Batch([fn(v) for v in self.views], fn(self.labels), None, self.step, self.epoch,
                     self.skipped, self.skipped_files, extras)

    def pin_memory(self) -> Batch:
        """Called by the DataLoader's pin-memory thread (``pin_memory=True``)."""
        return self._map(lambda t: t.pin_memory())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return (f"Batch(views={[tuple(v.shape) for v in self.views]}, step={self.step}, "
                f"epoch={self.epoch}, extras={sorted(self.extras)})")


def _map_value(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``value`` with ``fn`` applied to every tensor in it (a dataclass's fields included, so a
    ``Masks`` subclass with extra fields moves too)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        return type(value)(**{k: _map_value(v, fn) for k, v in parts.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(_map_value(v, fn) for v in value)
    return value


class ExtraSampler(Protocol):
    """What a collator draws a batch's extra from (a masker): ``sample(batch_size, *, step,
    generator)``, deterministic given the generator."""

    def sample(self, batch_size: int, *, step: int, generator: torch.Generator) -> Any: ...


class Collator:
    """Stacks samples view by view and, given a sampler (a masker), draws the batch's masks.

    Runs in the loader workers. The masks are drawn from a generator seeded by
    ``(seed, global step, rank)``, so they do not depend on the number of workers or which
    one built the batch. Methods that need another batch subclass it (``Method.collator``).
    """

    def __init__(self, masker: ExtraSampler | None, seed: int, rank: int = 0) -> None:
        self.masker = masker
        self.seed = seed
        self.rank = rank

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        views, labels, steps, epochs, skipped, names = zip(*samples, strict=True)
        step, epoch = steps[0], epochs[0]
        assert all(s == step for s in steps), "a batch mixes global steps"
        extras = {}
        if self.masker is not None:
            generator = seeded(MASK_TAG, self.seed, step, self.rank)
            extras["masks"] = self.masker.sample(len(samples), step=step, generator=generator)
        return Batch(
            views=[torch.stack(same) for same in zip(*views, strict=True)],
            labels=torch.tensor(labels, dtype=torch.int64),
            step=step,
            epoch=epoch,
            skipped=sum(skipped),
            skipped_files=tuple(name for some in names for name in some),
            extras=extras,
        )
