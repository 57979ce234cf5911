"""Image transforms: the pre-training augmentation of one view and the evaluation resize-crop.

The train transform follows the reference ``make_transforms`` (RandomResizedCrop, optional
flip, colour distortion and Gaussian blur, ImageNet normalisation; Assran et al., I-JEPA, 2023,
arXiv:2301.08243, App. A) but draws every random number from an explicit ``torch.Generator``
instead of the global RNG. The loader seeds that generator from ``(seed, epoch, index)``, so an
augmented image does not depend on which worker made it or how many workers there are.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from jepa_kit.data.base import DatasetConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: RandomResizedCrop aspect-ratio range (torchvision and reference default).
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return float(torch.empty(1).uniform_(low, high, generator=generator).item())


def _coin(p: float, generator: torch.Generator) -> bool:
    return bool(torch.rand(1, generator=generator).item() < p)


#: Grey modes of more than 8 bits per pixel; ``to_rgb`` scales them by their bit depth.
HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_TIFF_BITS_PER_SAMPLE, _TIFF_SAMPLE_FORMAT, _TIFF_SIGNED = 258, 339, 2


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, whatever its mode (Pillow's ``convert("RGB")`` clips 16-bit grey).

    - 8-bit modes go through ``convert("RGB")``: grey (L, 1-bit) is repeated over the three
      channels, a palette (P) is looked up, CMYK becomes ``(255 - C) * (255 - K) / 255`` per
      channel (no colour profile), YCbCr, LAB and HSV are converted.
    - Alpha is dropped, not composited: a transparent pixel keeps the colour it stores (RGBA,
      LA, PA, a P image with a transparent palette entry), as torchvision's and timm's
      ``convert("RGB")`` do, so the pixels match those pipelines.
    - Integer grey of more than 8 bits (I;16, I;16B, I) keeps its top 8 bits,
      ``v >> (bits - 8)``, as Pillow itself reads 16-bit RGB, RGBA and grey+alpha PNGs: one
      picture stored as 16-bit grey or 16-bit RGB gives the same pixels. ``bits`` is the
      file's depth (I;16*: 16; a PNG: 16; a TIFF: its BitsPerSample, less the sign bit when
      signed), else 16 when the values fit in 16 bits, else 31 (signed 32-bit). Values outside
      ``[0, 2**bits)`` clip.
    - Float grey (F) is taken to lie in [0, 1] (torchvision's ``to_pil_image`` convention):
      ``round(255 * v)``, clipped; NaN becomes 0.
    """
    if image.mode in HIGH_BIT_MODES:
        return Image.fromarray(_grey_to_uint8(image)).convert("RGB")
    if image.mode in ("PA", "La") or (image.mode == "P" and "transparency" in image.info):
        # Through RGBA, where Pillow resolves transparency and premultiplied alpha.
        image = image.convert("RGBA")
    return image.convert("RGB")


def _grey_to_uint8(image: Image.Image) -> np.ndarray:
    values = np.asarray(image)
    if image.mode == "F":
        scaled = np.nan_to_num(np.rint(values.astype(np.float64) * 255), nan=0.0)
        return scaled.clip(0, 255).astype(np.uint8)
    bits = _bit_depth(image, values)
    if bits == 32:  # unsigned 32-bit samples that Pillow stores as int32
        values = values.view(np.uint32)
    top = values.astype(np.int64).clip(0, (1 << bits) - 1)
    return (top >> max(bits - 8, 0)).astype(np.uint8)


def _bit_depth(image: Image.Image, values: np.ndarray) -> int:
    """Value bits of a high-bit integer grey image (see ``to_rgb``)."""
    if image.mode.startswith("I;16") or image.format == "PNG":  # PNG: at most 16 bits
        return 16
    tags = getattr(image, "tag_v2", None)  # a TIFF file's tags
    if tags is not None and _TIFF_BITS_PER_SAMPLE in tags:
        bits, fmt = tags[_TIFF_BITS_PER_SAMPLE], tags.get(_TIFF_SAMPLE_FORMAT, 1)
        bits = bits[0] if isinstance(bits, tuple) else bits
        fmt = fmt[0] if isinstance(fmt, tuple) else fmt
        return int(bits) - (fmt == _TIFF_SIGNED)
    if values.size == 0 or (values.min() >= 0 and values.max() < 1 << 16):
        return 16
    return 31


def to_uint8_tensor(image: object) -> torch.Tensor:
    """A dataset item (PIL image of any mode, or uint8 tensor (3, H, W)) as uint8 (3, H, W).

    A PIL image goes through ``to_rgb``, so 16-bit, palette and CMYK images keep their values.
    """
    if isinstance(image, Image.Image):
        return F.pil_to_tensor(to_rgb(image))
    if isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.dim() == 3:
        return image
    raise TypeError(f"expected a PIL image or a uint8 tensor (3, H, W), got {type(image)}")


def crop_box(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a random crop, torchvision's ``RandomResizedCrop.get_params``.

    Same algorithm and the same sequence of draws (10 attempts, then a centre crop of the
    closest allowed aspect ratio), so with an equally seeded generator it returns the same box.
    """
    area = height * width
    # float32 log/exp, as torchvision, so the rounded sides agree bit for bit.
    log_ratio = torch.log(torch.tensor(ratio)).tolist()
    for _ in range(10):
        target_area = area * _uniform(scale[0], scale[1], generator)
        aspect = torch.exp(torch.empty(1).uniform_(*log_ratio, generator=generator)).item()
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator).item())
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def colour_distortion(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """The reference ``get_color_distortion(s)`` on float (3, H, W) in [0, 1].

    ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) applied with probability 0.8 (the four adjustments in
    a random order, as torchvision), then RandomGrayscale(p=0.2).
    """
    if _coin(0.8, generator):
        b = c = s = 0.8 * strength
        h = 0.2 * strength
        factors = (
            _uniform(max(0.0, 1.0 - b), 1.0 + b, generator),
            _uniform(max(0.0, 1.0 - c), 1.0 + c, generator),
            _uniform(max(0.0, 1.0 - s), 1.0 + s, generator),
            _uniform(-h, h, generator),
        )
        for op in torch.randperm(4, generator=generator).tolist():
            if op == 0:
                x = F.adjust_brightness(x, factors[0])
            elif op == 1:
                x = F.adjust_contrast(x, factors[1])
            elif op == 2:
                x = F.adjust_saturation(x, factors[2])
            elif factors[3] != 0.0:
                x = F.adjust_hue(x, factors[3])
    if _coin(0.2, generator):
        x = F.rgb_to_grayscale(x, num_output_channels=3)
    return x


def gaussian_blur(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The reference ``GaussianBlur(p=0.5, radius 0.1-2.0)``; the PIL radius is the sigma."""
    if not _coin(0.5, generator):
        return x
    sigma = _uniform(0.1, 2.0, generator)
    kernel = 2 * math.ceil(3.0 * sigma) + 1  # +-3 sigma, like PIL's box-approximated blur
    return F.gaussian_blur(x, kernel_size=[kernel, kernel], sigma=[sigma, sigma])


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Float (3, H, W) in [0, 1] -> ImageNet-normalised float32."""
    return F.normalize(x, mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))


class TrainTransform:
    """The pre-training augmentation of one image: ``(image, generator) -> (3, S, S) float32``.

    RandomResizedCrop to ``size`` with area range ``scale``, then optional flip, colour
    distortion and blur, then ImageNet normalisation. ``key`` names the recipe section the
    settings came from, for error messages. Picklable; holds no random state.
    """

    def __init__(self, size: int, *, scale: tuple[float, float] = (0.3, 1.0), flip: bool = False,
                 color_jitter: float = 0.0, gaussian_blur: bool = False,
                 key: str = "views") -> None:
        low, high = scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(
                f"{key}.crop_scale must satisfy 0 < low <= high <= 1, got {tuple(scale)}"
            )
        self.size = size
        self.scale = (low, high)
        self.flip = flip
        self.jitter = color_jitter
        self.blur = gaussian_blur

    def __call__(self, image: object, generator: torch.Generator) -> torch.Tensor:
        x = to_uint8_tensor(image)
        top, left, h, w = crop_box(x.shape[-2], x.shape[-1], self.scale, CROP_RATIO, generator)
        # Crop and resize in uint8: torchvision's antialiased bilinear fast path.
        x = F.resized_crop(x, top, left, h, w, [self.size, self.size], antialias=True)
        if self.flip and _coin(0.5, generator):
            x = F.horizontal_flip(x)
        x = F.to_dtype(x, torch.float32, scale=True)
        if self.jitter > 0.0:
            x = colour_distortion(x, self.jitter, generator)
        if self.blur:
            x = gaussian_blur(x, generator)
        return normalise(x)

    def __repr__(self) -> str:
        return (
            f"TrainTransform(size={self.size}, scale={self.scale}, flip={self.flip}, "
            f"color_jitter={self.jitter}, gaussian_blur={self.blur})"
        )


class EvalTransform:
    """Resize the shorter side to ``img_size / crop_fraction``, centre-crop ``img_size``,
    normalise (the usual 256 -> 224 evaluation view at ``crop_fraction=0.875``)."""

    def __init__(self, config: DatasetConfig, crop_fraction: float = 0.875) -> None:
        if not 0.0 < crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
        self.size = config.img_size
        self.resize = round(config.img_size / crop_fraction)

    def __call__(self, image: object) -> torch.Tensor:
        x = to_uint8_tensor(image)
        x = F.resize(x, [self.resize], antialias=True)
        x = F.center_crop(x, [self.size, self.size])
        return normalise(F.to_dtype(x, torch.float32, scale=True))

    def __repr__(self) -> str:
        return f"EvalTransform(resize={self.resize}, size={self.size})"
