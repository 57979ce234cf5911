"""One augmented clip per video: V-JEPA's input (the 3-D masker then picks context and targets).

The augmentation follows the reference ``make_transforms`` at its pre-training settings: one
random-resized-crop box for all frames of the clip (area 0.3-1.0, aspect 0.75-1.35), one
horizontal flip decision per clip, no auto-augment, motion shift or random erasing (Bardes et
al., V-JEPA, 2024, arXiv:2404.08471, App. B; configs/pretrain/vitl16.yaml): see
``jepa_kit.data.video_transforms.VideoTrainTransform``. A clip is uint8 (T, 3, H, W) from a
video dataset; the view is float32 (3, T, S, S), so the batch's view is (B, 3, T, S, S).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator

from jepa_kit.data.video_transforms import (
    VJEPA_CROP_RATIO,
    VJEPA_CROP_SCALE,
    VideoTrainTransform,
)
from jepa_kit.views.base import Views, ViewsConfig


class VideoClip(Views):
    """``[one clip-consistent crop of data.img_size]`` per clip, float32 (3, T, S, S)."""

    #: Takes clips, uint8 (T, 3, H, W), and returns (3, T, s, s) per entry of ``sizes``.
    modality: ClassVar[str] = "video"

    class Config(ViewsConfig):
        kind: Literal["video_clip"] = "video_clip"
        crop_scale: tuple[float, float] = Field(
            VJEPA_CROP_SCALE, description="Random-resized-crop area range (V-JEPA: 0.3-1.0)."
        )
        crop_ratio: tuple[float, float] = Field(
            VJEPA_CROP_RATIO,
            description="Random-resized-crop aspect-ratio range, width / height (V-JEPA: "
            "0.75-1.35).",
        )
        horizontal_flip: bool = Field(
            True,
            description="Flip the whole clip left-right with probability 0.5 (V-JEPA: on). "
            "It turns left-moving into right-moving clips, harmless for pre-training.",
        )

        @model_validator(mode="after")
        def _ranges(self) -> VideoClip.Config:
            low, high = self.crop_scale
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(f"views.crop_scale must satisfy 0 < low <= high <= 1, got "
                                 f"{(low, high)}")
            low, high = self.crop_ratio
            if not 0.0 < low <= high <= 10.0:
                raise ValueError(f"views.crop_ratio must satisfy 0 < low <= high <= 10, got "
                                 f"{(low, high)}")
            return self

    def __init__(self, config: Config, *, img_size: int) -> None:
        self.config = config
        self.sizes = (img_size,)
        self.transform = VideoTrainTransform(img_size, scale=config.crop_scale,
                                             ratio=config.crop_ratio,
                                             flip=config.horizontal_flip)

    def __call__(self, image: object, generator: torch.Generator) -> list[torch.Tensor]:
        return [self.transform(image, generator)]

    def __repr__(self) -> str:
        return f"VideoClip({self.transform!r})"
