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
    """Moves the target encoder's weights toward the online (context) encoder.

    Built as ``cls(config, total_steps=T)`` where T is the schedule length in optimizer steps.
    Called once after every optimizer step, under ``torch.no_grad``. Not for: creating the
    target encoder (the trainer deep-copies the online encoder) or touching the optimizer.
    """

    Config: ClassVar[type[TargetUpdaterConfig]]

    @abstractmethod
    def value(self, step: int) -> float:
        """The scalar that governs update ``step`` (1-based), e.g. the EMA momentum; logged."""

    @abstractmethod
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        """Update ``target`` in place after optimizer step ``step`` (1-based)."""
