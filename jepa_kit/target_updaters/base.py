"""The target-updater interface: how the target encoder follows the online encoder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch import nn

from jepa_kit.config import ComponentConfig


class TargetUpdaterConfig(ComponentConfig):
    """Base of target-updater configs."""

    component_kind: ClassVar[str] = "target_updater"


class TargetUpdater(ABC):
    """Moves a target network's weights toward its online network (I-JEPA's target encoder
    toward the context encoder; a method may pair other networks, e.g. BYOL's projectors).

    Built by a method as ``cls(config, total_steps=T)``, T the schedule length in optimizer
    steps (``lengths.momentum_steps``). The method calls ``update`` from its ``after_step``,
    once after every optimizer step, under ``torch.no_grad``. Not for: creating the target
    network (the method deep-copies the online one) or touching the optimizer.
    """

    Config: ClassVar[type[TargetUpdaterConfig]]

    @abstractmethod
    def value(self, step: int) -> float:
        """The scalar that governs update ``step`` (1-based), e.g. the EMA momentum; logged."""

    @abstractmethod
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        """Update ``target`` in place after optimizer step ``step`` (1-based)."""
