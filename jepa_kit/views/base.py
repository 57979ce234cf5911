"""The views interface: one raw image -> the augmented views a method trains on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from jepa_kit.config import ComponentConfig


class ViewsConfig(ComponentConfig):
    """Base of views configs: the augmentation settings of pre-training live here."""

    component_kind: ClassVar[str] = "views"


class Views(ABC):
    """Turns one sample into the views of a method's batch.

    Built as ``cls(config, img_size=S)`` where S is ``data.img_size``, the side the encoder is
    built for. Runs in data-loader workers: it must be picklable, hold no random state and draw
    every random number from the generator it is given (seeded per ``(seed, epoch, index)``).
    I-JEPA uses one view (masks come from the masker); multi-crop methods use G global and L
    local views. Not for: masking, batching, or reading files (datasets do that).
    """

    Config: ClassVar[type[ViewsConfig]]

    #: Side in pixels of each view, in the order ``__call__`` returns them.
    sizes: tuple[int, ...]

    @property
    def num_views(self) -> int:
        return len(self.sizes)

    @abstractmethod
    def __call__(self, image: object, generator: torch.Generator) -> list[torch.Tensor]:
        """Views of ``image`` (an RGB ``PIL.Image`` or uint8 tensor (3, H, W)): one float32
        tensor (3, s, s) per entry of ``sizes``, normalised as the encoder expects."""
