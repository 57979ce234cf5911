"""A built-in labelled image set drawn on the fly, so a recipe runs with no download.

Each image is one shape (the class) at a random position, scale and rotation on a gently
shaded, noisy background, in the spirit of dSprites. By default (``colours = "fixed"``) every
image is a light grey shape on a dark grey ground, so what varies is geometry, and an encoder
has to see the shape. ``colours = "random"`` draws the two colours independently of the class
instead: a harder variant in which colour, a strong nuisance, carries no label information.
With ``pattern = "textures"`` each image is one of four patterns filling the whole frame
(stripes, checkerboard, dots, rings). Images are drawn lazily in ``__getitem__`` from a numpy
``Generator`` seeded with ``(data.seed, split, index)``: the same index gives the same pixels
in any process, and the train and val splits are disjoint random streams."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from jepa_kit.data.base import Dataset, DatasetConfig

#: Class names in label order; ``num_classes`` takes a prefix. Plain shapes and textures are
#: interleaved so that the default 4 classes already mix both.
CLASS_NAMES: tuple[str, ...] = (
    "disc",
    "square",
    "triangle",
    "stripes",
    "ring",
    "cross",
    "checkerboard",
    "crescent",
)

# Distinct integers keep the two splits' seed streams apart (SeedSequence entropy).
#: Classes of ``pattern = "textures"``: the pattern fills the whole image, so every patch
#: carries its class (with ``shapes`` most patches are background).
TEXTURE_NAMES: tuple[str, ...] = ("stripes", "checkerboard", "dots", "rings")

_SQRT3_2 = math.sqrt(3.0) / 2.0


class SyntheticShapesConfig(DatasetConfig):
    """Options of the built-in synthetic shapes dataset."""

    kind: Literal["synthetic"] = "synthetic"
    num_classes: int = Field(4, ge=2, le=len(CLASS_NAMES), description="Number of shape classes.")
    train_size: int = Field(2048, ge=1, le=10_000_000, description="Images in the train split.")
    val_size: int = Field(512, ge=1, le=10_000_000, description="Images in the val split.")
    native_size: int = Field(
        64,
        ge=16,
        le=1024,
        description="Side the images are drawn at, before the crop transform, px.",
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Seed of the image content (independent of run.seed)."
    )
    pattern: Literal["shapes", "textures"] = Field(
        "shapes",
        description="shapes: one shape or texture on a background (8 classes); textures: a "
        "pattern filling the image (4 classes: stripes, checkerboard, dots, rings).",
    )
    colours: Literal["fixed", "random"] = Field(
        "fixed",
        description="fixed: a light grey shape on a dark grey background, so only geometry, "
        "shading and noise vary; random: independent random RGB colours for shape and "
        "background, a nuisance that dominates the pooled features of an encoder trained "
        "without colour augmentation (I-JEPA's case).",
    )
    object_scale: tuple[float, float] = Field(
        (0.22, 0.4),
        description="Range of the shape's radius as a fraction of native_size; larger shapes put "
        "more of every image's patches on the shape.",
    )

    @model_validator(mode="after")
    def _check_object_scale(self) -> SyntheticShapesConfig:
        names = TEXTURE_NAMES if self.pattern == "textures" else CLASS_NAMES
        if self.num_classes > len(names):
            raise ValueError(f"data.num_classes={self.num_classes}: data.pattern="
                             f"{self.pattern!r} has {len(names)} classes")
        lo, hi = self.object_scale
        if not 0.05 <= lo <= hi <= 0.8:
            raise ValueError(f"data.object_scale must satisfy 0.05 <= min <= max <= 0.8, got "
                             f"({lo}, {hi})")
        return self


def _shape_mask(name: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Foreground mask of class ``name`` on shape-frame coordinates ``u, v`` (unit = radius)."""
    rho2 = u * u + v * v
    if name == "disc":
        return rho2 <= 1.0
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if name == "triangle":
        # Equilateral triangle of circumradius 1.2: the three edges' half-planes, normals at
        # 90, 210 and 330 degrees, inradius 0.6.
        inside = v >= -0.6
        inside &= _SQRT3_2 * u + 0.5 * v <= 0.6
        inside &= -_SQRT3_2 * u + 0.5 * v <= 0.6
        return inside
    if name == "stripes":
        freq = rng.uniform(2.5, 4.0)  # stripes per radius: visible after a 0.3-area crop
        return (rho2 <= 1.0) & (np.cos(math.pi * freq * u) > 0.0)
    if name == "ring":
        width = rng.uniform(0.3, 0.45)
        return (rho2 <= 1.0) & (rho2 >= (1.0 - width) ** 2)
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.28) & (av <= 1.0)) | ((av <= 0.28) & (au <= 1.0))
    if name == "checkerboard":
        cells = rng.uniform(1.5, 2.5)  # cells per radius
        parity = (np.floor(u * cells) + np.floor(v * cells)).astype(np.int64) % 2 == 0
        return (np.maximum(np.abs(u), np.abs(v)) <= 0.85) & parity
    if name == "crescent":
        return (rho2 <= 1.0) & ((u - 0.55) ** 2 + v * v > 0.75**2)
    raise AssertionError(f"no drawing for class {name!r}")


#: Background and shape grey levels of ``colours = "fixed"``: a light shape on a dark ground.
FIXED_BACKGROUND, FIXED_FOREGROUND = 0.1, 0.9


def draw_colours(colours: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground RGB in [0, 1] for ``data.colours``, never from the class.

    ``fixed`` draws nothing. ``random`` draws both colours uniformly and rejects pairs too close
    to see the shape; the attempt count is bounded so the draw stays cheap and deterministic
    (the last draw is kept).
    """
    if colours == "fixed":
        return np.full(3, FIXED_BACKGROUND), np.full(3, FIXED_FOREGROUND)
    bg = rng.uniform(0.0, 1.0, 3)
    fg = rng.uniform(0.0, 1.0, 3)
    for _ in range(8):
        if np.linalg.norm(fg - bg) >= 0.45:
            break
        fg = rng.uniform(0.0, 1.0, 3)
    return bg, fg


def draw_shape(label: int, size: int, rng: np.random.Generator,
               object_scale: tuple[float, float] = (0.22, 0.4),
               colours: str = "fixed") -> np.ndarray:
    """One image of class ``CLASS_NAMES[label]`` as uint8 (3, size, size)."""
    bg, fg = draw_colours(colours, rng)
    radius = rng.uniform(*object_scale) * size
    # Keep most of the shape inside the frame: the centre stays 0.6 radius from each border.
    cy, cx = rng.uniform(0.6 * radius, size - 0.6 * radius, 2)
    theta = rng.uniform(0.0, 2.0 * math.pi)
    coords = np.arange(size, dtype=np.float32) + 0.5
    dy = (coords - cy)[:, None] / radius  # (S, 1)
    dx = (coords - cx)[None, :] / radius  # (1, S)
    cos, sin = math.cos(theta), math.sin(theta)
    u = cos * dx + sin * dy  # (S, S), rotated shape frame
    v = -sin * dx + cos * dy
    mask = _shape_mask(CLASS_NAMES[label], u, v, rng)

    # A gentle linear shading of the background, so it is not a flat colour either.
    gy, gx = rng.uniform(-0.15, 0.15, 2)
    ramp = (gy * (coords - size / 2)[:, None] + gx * (coords - size / 2)[None, :]) / size
    image = bg[:, None, None] + ramp[None]  # (3, S, S)
    image = np.where(mask[None], fg[:, None, None], image)
    noise_std = rng.uniform(0.02, 0.08)
    image = image + rng.normal(0.0, noise_std, image.shape).astype(np.float32)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _texture_mask(name: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator
                  ) -> np.ndarray:
    """Foreground of texture ``name`` over the whole frame (``u, v`` in units of the image)."""
    if name == "stripes":
        return np.cos(math.pi * rng.uniform(6.0, 10.0) * u) > 0.0
    if name == "checkerboard":
        cells = rng.uniform(3.0, 5.0)
        return (np.floor(u * cells) + np.floor(v * cells)).astype(np.int64) % 2 == 0
    if name == "dots":
        cells = rng.uniform(3.0, 5.0)
        fu, fv = u * cells % 1.0 - 0.5, v * cells % 1.0 - 0.5
        return fu * fu + fv * fv <= rng.uniform(0.2, 0.3) ** 2 * 4.0
    if name == "rings":
        cy, cx = rng.uniform(-0.5, 0.5, 2)
        return np.cos(math.pi * rng.uniform(6.0, 10.0) * np.hypot(u - cx, v - cy)) > 0.0
    raise AssertionError(f"no drawing for texture {name!r}")


def draw_texture(label: int, size: int, rng: np.random.Generator,
                 colours: str = "fixed") -> np.ndarray:
    """One image of texture ``TEXTURE_NAMES[label]`` as uint8 (3, size, size): a rotated,
    scaled pattern in two colours (``data.colours``) with noise."""
    bg, fg = draw_colours(colours, rng)
    theta = rng.uniform(0.0, 2.0 * math.pi)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    cos, sin = math.cos(theta), math.sin(theta)
    u = cos * coords[None, :] + sin * coords[:, None]
    v = -sin * coords[None, :] + cos * coords[:, None]
    mask = _texture_mask(TEXTURE_NAMES[label], u, v, rng)
    image = np.where(mask[None], fg[:, None, None], bg[:, None, None])
    image = image + rng.normal(0.0, rng.uniform(0.02, 0.08), image.shape).astype(np.float32)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class SeededSplit(Dataset):
    """A generated split: item ``i`` is drawn from ``(config.seed, split key, i)`` alone, its
    label is ``i % num_classes``; ``config`` has ``seed``, ``num_classes``, ``train_size`` and
    ``val_size``. Subclasses draw the item (``__getitem__``) from ``self.rng(index)``."""

    #: Train (True) / val (False) -> the key that keeps the two splits' streams apart.
    split_keys: ClassVar[dict[bool, int]]
    #: What an item is, for messages ("images").
    items: ClassVar[str] = "items"

    def __init__(self, config: Any, train: bool = True, seed: int = 0) -> None:
        self.config = config
        self.train = train
        self._size = config.train_size if train else config.val_size
        self._split_key = self.split_keys[train]

    def __len__(self) -> int:
        return self._size

    def label(self, index: int) -> int:
        """The label of ``index`` without drawing the item."""
        return index % self.config.num_classes

    def rng(self, index: int) -> np.random.Generator:
        """The generator item ``index`` is drawn from (``IndexError`` outside the split)."""
        if not 0 <= index < self._size:
            raise IndexError(f"index {index} out of range for {self._size} {self.items}")
        return np.random.default_rng([self.config.seed, self._split_key, index])


class SyntheticShapes(SeededSplit):
    """Procedurally drawn shapes, ``num_classes`` balanced classes, no download.

    Labels cycle through the classes by index (``index % num_classes``), so every split is
    balanced to within one image per class. The content depends on ``data.seed`` only, not on
    the run seed, so runs with different seeds see the same images.
    """

    Config = SyntheticShapesConfig

    split_keys: ClassVar[dict[bool, int]] = {True: 0x7261696E, False: 0x76616C}  # "rain", "val"
    items: ClassVar[str] = "images"

    def __init__(self, config: SyntheticShapesConfig, train: bool = True, seed: int = 0) -> None:
        super().__init__(config, train, seed)
        names = TEXTURE_NAMES if config.pattern == "textures" else CLASS_NAMES
        self.classes = list(names[: config.num_classes])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = self.rng(index)
        label = self.label(index)
        if self.config.pattern == "textures":
            image = draw_texture(label, self.config.native_size, rng, self.config.colours)
        else:
            image = draw_shape(label, self.config.native_size, rng, self.config.object_scale,
                               self.config.colours)
        return torch.from_numpy(image), label
