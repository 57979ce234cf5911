"""The evaluation-protocol interface: a frozen encoder's features of labelled images -> a score.

A protocol is one way of reading out what a pre-trained encoder knows (a kNN vote, a linear or
attentive probe, ...). ``jepa_kit.evaluate`` does everything around it: loads the encoder
(a checkpoint's or an export), builds the labelled train/val splits, extracts what the
protocol ``reads`` (sharded under torchrun), draws a low-shot subset, scores the random-init
baseline beside it and writes the result JSON. The protocol only turns ``Inputs`` into a
``Result``; ``jepa-kit eval <name>`` gets one flag per ``Config`` field and ``jepa-kit
compare`` a column per ``headline`` metric, for built-ins and plug-ins alike.

Not for: loading checkpoints, data, feature extraction or writing files (``evaluate`` does
those), nor periodic evaluation's bookkeeping (the trainer logs what ``run`` returns).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from jepa_kit.config import ComponentConfig

#: What a protocol reads: average-pooled features (N, D) (``--features`` picks the pooling),
#: the last layer's tokens (N, T, D), or nothing extracted (the protocol reads ``splits``).
Reads = Literal["pooled", "tokens", "images"]


class ProtocolConfig(ComponentConfig):
    """Base of eval-protocol configs: the protocol's own settings (``jepa-kit eval`` flags).

    A field's flag is ``--<field-name>`` with dashes, or ``json_schema_extra={"flag": "--x"}``;
    any field can also be set with ``--opt key=value``.
    """

    component_kind: ClassVar[str] = "eval_protocol"


@dataclass
class Inputs:
    """What ``Protocol.run`` gets. Tensors sit on ``device``; labels are class indices.

    ``train`` and ``val`` are (features, labels): (N, D) for ``reads = "pooled"``, (N, T, D)
    for ``"tokens"``, None for ``"images"``. ``subset`` holds the low-shot train indices (None:
    the whole split); the protocol restricts its fit to them.
    """

    train: tuple[torch.Tensor, torch.Tensor] | None
    val: tuple[torch.Tensor, torch.Tensor] | None
    num_classes: int
    subset: torch.Tensor | None
    encoder: nn.Module
    splits: Any  # jepa_kit.eval.features.EvalSplits
    device: torch.device
    precision: str = "fp32"
    seed: int = 0
    features: str = "avg"  # the pooling of ``reads = "pooled"`` (avg, lastK)
    augment: str = "none"  # none, ijepa or vjepa: train views augmented on the fly

    def train_subset(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The train features and labels restricted to ``subset``."""
        assert self.train is not None, "a protocol that reads images has no features"
        x, y = self.train
        if self.subset is None:
            return x, y
        return x[self.subset.to(x.device)], y[self.subset.to(y.device)]

    def augmented(self, pool: str, batch_size: int) -> Any:
        """Batches of features of augmented train images, extracted on the fly (the
        ``--augment`` protocols of I-JEPA and V-JEPA); None without ``augment``."""
        if self.augment == "none":
            return None
        from jepa_kit.eval.augmented import augmented_batches

        return augmented_batches(self.encoder, self.splits.train, augment=self.augment,
                                 img_size=self.splits.config.img_size, pool=pool,
                                 device=self.device, batch_size=batch_size, seed=self.seed,
                                 precision=self.precision)


@dataclass
class Result:
    """A protocol's score: accuracies are fractions in [0, 1]; ``details`` holds the rest
    (top-5, the chosen hyper-parameters, the grid, ...), all JSON-serialisable."""

    top1: float
    num_classes: int
    num_train: int
    num_val: int
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Result:
        rest = {k: v for k, v in metrics.items()
                if k not in ("top1", "num_classes", "num_train", "num_val")}
        return cls(float(metrics["top1"]), int(metrics["num_classes"]),
                   int(metrics["num_train"]), int(metrics["num_val"]), rest)

    def metrics(self) -> dict[str, Any]:
        """The ``metrics`` of the result JSON."""
        return {"top1": self.top1, **self.details, "num_classes": self.num_classes,
                "num_train": self.num_train, "num_val": self.num_val}


class Protocol(ABC):
    """One evaluation protocol. Built as ``cls(config)``; ``run`` may be called several times
    (the trained encoder, then its random-init baseline).

    Class attributes: ``reads`` (what it consumes), ``fits`` (it trains something on the train
    split: ``--seed`` also fixes its init and order, and ``--augment`` may feed it augmented
    views), ``title`` (how tables name it) and ``headline`` (the metrics of ``Result.metrics()``
    that ``compare`` shows as ``<name>_<metric>`` columns: fractions, shown as percentages).
    """

    Config: ClassVar[type[ProtocolConfig]]
    reads: ClassVar[Reads] = "pooled"
    fits: ClassVar[bool] = True
    title: ClassVar[str] = ""
    headline: ClassVar[tuple[str, ...]] = ("top1",)

    def __init__(self, config: ProtocolConfig) -> None:
        self.config = config

    @abstractmethod
    def run(self, inputs: Inputs) -> Result:
        """Score ``inputs``: fit on ``inputs.train`` (restricted to ``inputs.subset``),
        measure on ``inputs.val``."""

    def describe(self, metrics: dict[str, Any], features: str) -> str:
        """The title of the printed table, e.g. ``kNN (k=20, T=0.07)``."""
        return self.title or type(self).__name__


def protocol_title(name: str, cls: type[Protocol]) -> str:
    """How tables and columns name protocol ``name``: its ``title``, else the name."""
    return cls.title or name
