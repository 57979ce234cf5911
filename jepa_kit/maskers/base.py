"""The masker interface: which patches are context and which are targets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from jepa_kit.config import ComponentConfig


@dataclass(frozen=True)
class Masks:
    """Patch indices of one batch, row-major on the patch grid (``t = r * W + c``; for a
    (T, H, W) grid ``t = (f * H + r) * W + c``).

    ``context`` is (B, Kc) int64; ``targets`` is (M, B, Kt) int64 (M target blocks). Every row
    holds distinct indices; equal lengths across the batch are the masker's job.
    """

    context: torch.Tensor
    targets: torch.Tensor

    @property
    def num_targets(self) -> int:
        return int(self.targets.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Masks:
        return Masks(self.context.to(device, non_blocking=non_blocking),
                     self.targets.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Masks:
        return Masks(self.context.pin_memory(), self.targets.pin_memory())


class MaskerConfig(ComponentConfig):
    """Base of masker configs."""

    component_kind: ClassVar[str] = "masker"

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """Raise ``ValueError`` naming the offending keys if this config can never produce
        valid masks on ``grid``. Called when a recipe is validated."""


class Masker(ABC):
    """Samples context and target patch indices for a batch.

    Built as ``cls(config, grid=g)`` with the encoder's patch grid ``g`` ((H, W) for images,
    (T, H, W) for video; a masker may support only some dimensions and says so in
    ``check_grid``). Runs on the CPU inside data-loader workers, so it must
    be cheap and must draw randomness only from the arguments it is given: the same
    ``(batch_size, step, generator state)`` gives the same masks in any process. Not for:
    touching images or features.
    """

    Config: ClassVar[type[MaskerConfig]]

    @abstractmethod
    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        """Masks for a batch of ``batch_size`` images at global batch counter ``step``."""
