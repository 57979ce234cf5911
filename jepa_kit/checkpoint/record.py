"""The checkpoint record: what a jepa-kit checkpoint holds, as one typed object.

On disk a checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads (the
*payload*); in jepa-kit it is a ``CheckpointRecord``. ``to_payload`` and ``from_payload`` are
the only places that know the payload's keys, so a new field or a renamed key is a change here
and a step in ``jepa_kit.checkpoint.migrate``, never in the trainer, evaluation or interop.

The payload (format version 2): ``format`` ("jepa-kit-checkpoint"), ``format_version``,
``step`` (optimizer steps done), ``epoch``, ``step_in_epoch`` (the data loader's position),
``method`` (its recipe kind), ``networks`` (the method's network names) and one state dict per
network under its name (I-JEPA: ``encoder``, ``target_encoder``, ``predictor``),
``optimizer`` (state dict or None), ``rng`` (torch / numpy / python states), ``recipe`` (the
resolved recipe as JSON-compatible data), ``versions`` (distribution -> version), ``metrics``
(last logged values), and, where the writer knew them, ``iterations_per_epoch``,
``world_size``, ``strategy``, ``layout`` and ``checksums`` (sharded folders) and ``source``
(imported reference checkpoints). Any other key (a fine-tuning run's ``history``) is kept in
``extra`` and written back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from jepa_kit.checkpoint.failures import CheckpointError
from jepa_kit.checkpoint.migrate import FORMAT_VERSION, migrate

FORMAT = "jepa-kit-checkpoint"
#: A network's weights: parameter and buffer name -> tensor.
StateDict = dict[str, Any]

_REQUIRED = ("format", "format_version", "step", "recipe")
_OPTIONAL = ("iterations_per_epoch", "world_size", "strategy", "layout", "checksums", "source")
#: Every key the record owns; a method may not name a network after one of them.
RESERVED_KEYS = frozenset({*_REQUIRED, "epoch", "step_in_epoch", "method", "networks",
                           "optimizer", "rng", "versions", "metrics", *_OPTIONAL})


@dataclass
class CheckpointRecord:
    """One checkpoint: the run's position, its networks' weights and everything to resume.

    ``networks`` maps each network's name to its state dict, or to None where the weights
    were not read (the record of a sharded folder, whose tensors stay in the shards until
    every process loads its own share).
    """

    step: int
    recipe: dict[str, Any]
    epoch: int = 0
    step_in_epoch: int = 0
    method: str = "ijepa"
    networks: dict[str, StateDict | None] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    iterations_per_epoch: int | None = None
    #: Processes that wrote it; None (an imported checkpoint) reads as "the current number".
    world_size: int | None = None
    strategy: str | None = None
    #: "sharded" for the record inside a ``step_N.dcp`` folder, None for a ``.pt`` file.
    layout: str | None = None
    checksums: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sharded(self) -> bool:
        return self.layout == "sharded"

    def weights(self, name: str, source: str = "checkpoint") -> StateDict:
        """The state dict of network ``name``; ``CheckpointError`` when it has none."""
        weights = self.networks.get(name)
        if not isinstance(weights, dict):
            held = ", ".join(n for n, w in self.networks.items() if w is not None) or "none"
            raise CheckpointError(f"{source}: the checkpoint has no {name!r} weights "
                                  f"(networks with weights: {held})")
        return weights

    def with_weights(self, networks: Mapping[str, StateDict],
                     optimizer: dict[str, Any] | None) -> CheckpointRecord:
        """This record holding ``networks`` and ``optimizer`` (what a writer adds)."""
        return replace(self, networks=dict(networks), optimizer=optimizer)

    def without_tensors(self) -> CheckpointRecord:
        """The record a sharded folder keeps beside its shards: names, no weights."""
        return replace(self, networks=dict.fromkeys(self.networks), optimizer=None,
                       layout="sharded")

    def to_payload(self) -> dict[str, Any]:
        """The dict written to disk (format ``FORMAT_VERSION``)."""
        payload: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "step": self.step,
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "method": self.method,
            "networks": list(self.networks),
            **{n: w for n, w in self.networks.items() if w is not None},
        }
        if not self.sharded:  # a sharded folder keeps its optimizer state in the shards
            payload["optimizer"] = self.optimizer
        payload.update(rng=self.rng, recipe=self.recipe, versions=self.versions,
                       metrics=self.metrics)
        payload.update({k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None})
        return {**payload, **self.extra}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], source: str = "checkpoint", *,
                     tensors: bool = True) -> CheckpointRecord:
        """The record of a payload of any format version (migrated first). ``tensors=False``
        reads a record whose weights are elsewhere (a sharded folder's); otherwise every
        network named must have its weights. ``CheckpointError`` names ``source``."""
        data = migrate(payload, source)
        names = data.get("networks")
        if names is None:  # a hand-written payload: every table of tensors is a network
            names = [k for k, v in data.items() if k not in RESERVED_KEYS and _is_weights(v)]
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise CheckpointError(f"{source}: the checkpoint's networks are not a list of names "
                                  f"(got {names!r})")
        wanted = (*_REQUIRED, *(names if tensors else ()))
        missing = [k for k in wanted if k not in data]
        if missing:
            raise CheckpointError(f"{source}: checkpoint lacks {', '.join(missing)}")
        for key in ("step", "epoch", "step_in_epoch"):
            if not _is_int(data.get(key, 0)):
                raise CheckpointError(f"{source}: the checkpoint's {key} is "
                                      f"{data[key]!r}, not a whole number")
        known = {"format", "format_version", "step", "epoch", "step_in_epoch", "method",
                 "networks", "optimizer", "rng", "recipe", "versions", "metrics", *_OPTIONAL}
        return cls(
            step=int(data["step"]), recipe=data["recipe"], epoch=int(data.get("epoch", 0)),
            step_in_epoch=int(data.get("step_in_epoch", 0)),
            method=str(data.get("method", "ijepa")),
            networks={n: data.get(n) for n in names}, optimizer=data.get("optimizer"),
            rng=data.get("rng"), versions=dict(data.get("versions") or {}),
            metrics=dict(data.get("metrics") or {}),
            **{k: data[k] for k in _OPTIONAL if k in data},
            extra={k: v for k, v in data.items() if k not in known and k not in names},
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_weights(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(v, torch.Tensor) for v in value.values())

