"""Clip transforms: V-JEPA's pre-training augmentation of one clip and the evaluation resize-crop.

A clip arrives from a video dataset as uint8 (T, 3, H, W) and leaves as float32 (3, T, S, S),
the (C, T, H, W) layout of V-JEPA's encoders, so a batch holds (B, 3, T, S, S). The train
transform follows the reference ``VideoTransform`` without auto-augment, motion shift or random
erasing (their pre-training settings; Bardes et al., V-JEPA, 2024, arXiv:2404.08471, App. B):
one random-resized-crop box for every frame of the clip (area 0.3-1.0, aspect 0.75-1.35),
resized with float bilinear interpolation (``align_corners=False``, no antialiasing, as the
reference ``random_resized_crop``), one horizontal flip decision for the whole clip, ImageNet
normalisation. Every random number comes from the ``torch.Generator`` the loader seeds per
``(seed, epoch, index)``, never from a global RNG.
"""

from __future__ import annotations

import torch
from torch.nn import functional as nnf
from torchvision.transforms.v2 import functional as F

from jepa_kit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, _coin, crop_box
from jepa_kit.errors import UserError

#: V-JEPA's random-resized-crop ranges (configs/pretrain/vitl16.yaml: data_aug).
VJEPA_CROP_SCALE = (0.3, 1.0)
VJEPA_CROP_RATIO = (0.75, 1.35)

_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)


def as_clip(clip: object) -> torch.Tensor:
    """``clip`` checked to be uint8 (T, 3, H, W), the item of every video dataset; a
    ``UserError`` otherwise (an image dataset under video views is a recipe mistake)."""
    if isinstance(clip, torch.Tensor) and clip.dtype == torch.uint8 and clip.dim() == 4 \
            and clip.shape[1] == 3 and clip.shape[0] > 0:
        return clip
    what = (f"a {clip.dtype} tensor of shape {tuple(clip.shape)}"
            if isinstance(clip, torch.Tensor) else type(clip).__name__)
    raise UserError(f"views.kind = \"video_clip\" expects video clips, uint8 tensors "
                    f"(T, 3, H, W), and got {what}; use a video dataset (data.kind = "
                    "\"video_folder\" or \"synthetic_video\")")


def normalise_clip(x: torch.Tensor) -> torch.Tensor:
    """Float (3, T, H, W) in [0, 1] -> ImageNet-normalised float32."""
    return (x - _MEAN) / _STD


def _check_range(key: str, values: tuple[float, float], low: float, high: float) -> None:
    a, b = values
    if not low < a <= b <= high:
        raise ValueError(f"{key} must satisfy {low} < min <= max <= {high}, got {tuple(values)}")


class VideoTrainTransform:
    """``(clip uint8 (T, 3, H, W), generator) -> float32 (3, T, S, S)``, one crop and flip per clip.

    ``key`` names the recipe section the settings came from, for error messages. Picklable;
    holds no random state.
    """

    def __init__(self, size: int, *, scale: tuple[float, float] = VJEPA_CROP_SCALE,
                 ratio: tuple[float, float] = VJEPA_CROP_RATIO, flip: bool = True,
                 key: str = "views") -> None:
        _check_range(f"{key}.crop_scale", scale, 0.0, 1.0)
        _check_range(f"{key}.crop_ratio", ratio, 0.0, 10.0)
        self.size = size
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.flip = flip

    def __call__(self, clip: object, generator: torch.Generator) -> torch.Tensor:
        x = as_clip(clip)
        top, left, h, w = crop_box(x.shape[-2], x.shape[-1], self.scale, self.ratio, generator)
        x = x[:, :, top : top + h, left : left + w].float()  # (T, 3, h, w), one box for all
        x = nnf.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.flip and _coin(0.5, generator):
            x = x.flip(-1)
        x = x.permute(1, 0, 2, 3) / 255.0  # (3, T, S, S)
        return normalise_clip(x).contiguous()

    def __repr__(self) -> str:
        return (f"VideoTrainTransform(size={self.size}, scale={self.scale}, ratio={self.ratio}, "
                f"flip={self.flip})")


class VideoEvalTransform:
    """Resize every frame's shorter side to ``size / crop_fraction``, centre-crop ``size``,
    normalise: ``clip uint8 (T, 3, H, W) -> float32 (3, T, S, S)``. The reference evaluation
    view (short side ``int(crop_size * 256 / 224)``, centre crop) at ``crop_fraction=0.875``.
    """

    def __init__(self, size: int, crop_fraction: float = 0.875) -> None:
        if not 0.0 < crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
        self.size = size
        self.resize = round(size / crop_fraction)

    def __call__(self, clip: object) -> torch.Tensor:
        x = F.resize(as_clip(clip), [self.resize], antialias=True)
        x = F.center_crop(x, [self.size, self.size])
        return normalise_clip(x.permute(1, 0, 2, 3).float() / 255.0).contiguous()

    def __repr__(self) -> str:
        return f"VideoEvalTransform(resize={self.resize}, size={self.size})"
