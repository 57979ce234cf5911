"""Multi-crop: G global and L local views of one image, each its own random crop.

The views of multi-crop SSL (SwAV, DINO) as LeJEPA uses them: global crops at the encoder's
resolution covering much of the image, local crops smaller in pixels and in area. LeJEPA's
ImageNet setting is 2 global crops at 224 px (area 0.3-1.0) and 6 local crops at 96 px (area
0.05-0.3), with flip, colour jitter, grayscale and blur (Balestriero & LeCun 2025,
arXiv:2511.08544, Sec. 5).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from jepa_kit.data.transforms import TrainTransform
from jepa_kit.views.base import Views, ViewsConfig


class MultiCrop(Views):
    """``[global_1 .. global_G, local_1 .. local_L]``; globals at ``data.img_size``."""

    class Config(ViewsConfig):
        kind: Literal["multicrop"] = "multicrop"
        num_global: int = Field(2, ge=1, le=16, description="Global views G (at data.img_size).")
        num_local: int = Field(6, ge=0, le=64, description="Local views L (0: globals only).")
        local_size: int = Field(96, ge=8, le=4096, description="Side of a local view, px.")
        global_scale: tuple[float, float] = Field(
            (0.3, 1.0), description="RandomResizedCrop area range of the global views."
        )
        local_scale: tuple[float, float] = Field(
            (0.05, 0.3), description="RandomResizedCrop area range of the local views."
        )
        horizontal_flip: bool = Field(True, description="Random horizontal flip of every view.")
        color_jitter: float = Field(
            0.5, ge=0.0, le=1.0, description="Colour-jitter strength of every view; 0: off. 0.5 "
            "gives brightness and contrast 0.4, hue 0.1 as the authors' LeJEPA runs (saturation "
            "0.4 where they use 0.2)."
        )
        gaussian_blur: bool = Field(True, description="Random Gaussian blur of every view.")

        @model_validator(mode="after")
        def _scales(self) -> MultiCrop.Config:
            for name in ("global_scale", "local_scale"):
                low, high = getattr(self, name)
                if not 0.0 < low <= high <= 1.0:
                    raise ValueError(f"views.{name} must satisfy 0 < low <= high <= 1, got "
                                     f"{(low, high)}")
            return self

    def __init__(self, config: Config, *, img_size: int) -> None:
        self.config = config
        common = {"flip": config.horizontal_flip, "color_jitter": config.color_jitter,
                  "gaussian_blur": config.gaussian_blur}
        self.global_view = TrainTransform(img_size, scale=config.global_scale, **common)
        self.local_view = TrainTransform(config.local_size, scale=config.local_scale, **common)
        self.num_global = config.num_global
        self.sizes = (img_size,) * config.num_global + (config.local_size,) * config.num_local

    def __call__(self, image: object, generator: torch.Generator) -> list[torch.Tensor]:
        views = [self.global_view(image, generator) for _ in range(self.num_global)]
        views += [self.local_view(image, generator) for _ in range(self.num_global,
                                                                   self.num_views)]
        return views
