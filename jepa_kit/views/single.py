"""One augmented view per image: I-JEPA's input (the masker then picks context and targets).

The augmentation follows the reference ``make_transforms`` (RandomResizedCrop with area
0.3-1.0, everything else off by default; Assran et al., I-JEPA, 2023, arXiv:2301.08243,
App. A): see ``jepa_kit.data.transforms.TrainTransform``.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from jepa_kit.data.transforms import TrainTransform
from jepa_kit.views.base import Views, ViewsConfig


class SingleView(Views):
    """``[one crop of data.img_size]`` per image."""

    class Config(ViewsConfig):
        kind: Literal["single"] = "single"
        crop_scale: tuple[float, float] = Field(
            (0.3, 1.0), description="RandomResizedCrop area range (reference: 0.3-1.0)."
        )
        horizontal_flip: bool = Field(False, description="Random horizontal flip (reference: off).")
        color_jitter: float = Field(
            0.0, ge=0.0, le=1.0,
            description="Colour-jitter strength; 0 turns it off (reference: off).",
        )
        gaussian_blur: bool = Field(False, description="Random Gaussian blur (reference: off).")

    def __init__(self, config: Config, *, img_size: int) -> None:
        self.config = config
        self.sizes = (img_size,)
        self.transform = TrainTransform(
            img_size, scale=config.crop_scale, flip=config.horizontal_flip,
            color_jitter=config.color_jitter, gaussian_blur=config.gaussian_blur,
        )

    def __call__(self, image: object, generator: torch.Generator) -> list[torch.Tensor]:
        return [self.transform(image, generator)]

    def __repr__(self) -> str:
        return f"SingleView({self.transform!r})"
