"""MAE's fine-tuning augmentations as settings: Mixup/CutMix, label smoothing, RandAugment,
random erasing and the crop's area range. Shared by the ``finetune`` method's config and
``jepa-kit eval finetune``'s settings, which hands them on to it.

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator


class AugmentSettings(BaseModel):
    mixup: float = Field(0.8, ge=0, le=100, description="Mixup beta(alpha, alpha); 0 turns it "
                         "off (MAE: 0.8).")
    cutmix: float = Field(1.0, ge=0, le=100, description="CutMix beta(alpha, alpha); 0 turns "
                          "it off (MAE: 1.0).")
    mixup_prob: float = Field(1.0, ge=0, le=1, description="Chance a batch is mixed at all.")
    mixup_switch_prob: float = Field(0.5, ge=0, le=1, description="Chance of CutMix instead "
                                     "of mixup when both are on.")
    smoothing: float = Field(0.1, ge=0, lt=1, description="Label smoothing (MAE: 0.1).")
    rand_augment: str = Field("rand-m9-mstd0.5-inc1", description="timm RandAugment spec "
                              "(MAE: magnitude 9, magnitude std 0.5); 'none' turns it off.")
    re_prob: float = Field(0.25, ge=0, le=1, description="Random erasing probability "
                           "(MAE code: 0.25).")
    crop_scale: tuple[float, float] = Field((0.08, 1.0), description="Area range of the "
                                            "random resized crop.")

    @model_validator(mode="after")
    def _augment_consistent(self) -> Any:
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got "
                             f"{self.crop_scale}")
        if self.rand_augment not in ("", "none") and not self.rand_augment.startswith("rand"):
            raise ValueError(f"rand_augment={self.rand_augment!r} is not a timm RandAugment "
                             f"spec such as 'rand-m9-mstd0.5-inc1' (or 'none')")
        return self

    @property
    def mixes(self) -> bool:
        """Whether batches are mixed (mixup or cutmix on with a non-zero probability)."""
        return (self.mixup > 0 or self.cutmix > 0) and self.mixup_prob > 0
