"""A built-in labelled video set drawn on the fly: shapes whose class is the direction they move.

Each clip is one shape (disc, square, cross or ring, drawn independently of the class) sliding
in a straight line at a constant speed over a static shaded background, with fresh noise in
every frame. The class is the direction of motion (right, left, down, up, then the diagonals).
The picture wraps around the edges (the frame is a torus) and the start position is uniform, so
the object's position in any one frame is uniform whatever the class: every single frame has
the same distribution in every class and only the change from frame to frame carries the label.
A frame-level model therefore scores chance on it; a model that compares frames can solve it.
This is the point of the set: it tests that a video encoder (V-JEPA, Bardes et al. 2024,
arXiv:2404.08471) learns motion, which an image encoder applied frame by frame cannot.

Clips are drawn lazily in ``__getitem__`` from a numpy ``Generator`` seeded with
``(data.seed, split, index)``: the same index gives the same pixels in any process, and the
train and val splits are disjoint random streams. An item is a uint8 tensor (T, 3, H, W), the
layout every video dataset of jepa-kit returns (``modality = "video"``).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from jepa_kit.data.base import Dataset, DatasetConfig

#: Class names in label order (``num_classes`` takes a prefix): opposite directions come in
#: pairs, so every prefix of even length is closed under reversal of time.
MOTION_NAMES: tuple[str, ...] = (
    "right", "left", "down", "up", "down-right", "up-left", "down-left", "up-right",
)
_R = 1.0 / math.sqrt(2.0)
#: Unit (dy, dx) of each class, image rows pointing down.
DIRECTIONS: dict[str, tuple[float, float]] = {
    "right": (0.0, 1.0), "left": (0.0, -1.0), "down": (1.0, 0.0), "up": (-1.0, 0.0),
    "down-right": (_R, _R), "up-left": (-_R, -_R), "down-left": (_R, -_R), "up-right": (-_R, _R),
}
#: Shapes drawn, chosen at random for every clip whatever its class.
SHAPES: tuple[str, ...] = ("disc", "square", "cross", "ring")

# Distinct from synthetic.py's keys, so the two sets never share a seed stream.
_SPLIT_KEYS = {True: 0x76747261, False: 0x7676616C}  # "vtra", "vval"


class SyntheticVideoConfig(DatasetConfig):
    """Options of the built-in synthetic moving-shapes video set."""

    kind: Literal["synthetic_video"] = "synthetic_video"
    img_size: int = Field(32, gt=0, le=4096, description="Side of the square training crop, px.")
    num_classes: int = Field(
        4, ge=2, le=len(MOTION_NAMES),
        description="Number of motion classes: right, left, down, up, then the four diagonals.",
    )
    train_size: int = Field(2048, ge=1, le=10_000_000, description="Clips in the train split.")
    val_size: int = Field(512, ge=1, le=10_000_000, description="Clips in the val split.")
    num_frames: int = Field(8, ge=2, le=256, description="Frames per clip (T).")
    native_size: int = Field(
        32, ge=16, le=1024, description="Side the frames are drawn at, before the crop, px."
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Seed of the clip content (independent of run.seed)."
    )
    speed: tuple[float, float] = Field(
        (0.04, 0.08),
        description="Range of the speed, in native_size per frame (at 32 px the default is "
        "1.3-2.6 px per frame); drawn per clip, independently of the class.",
    )
    object_scale: tuple[float, float] = Field(
        (0.15, 0.25), description="Range of the shape's radius as a fraction of native_size."
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> SyntheticVideoConfig:
        lo, hi = self.speed
        if not 0.0 < lo <= hi <= 0.25:  # a still clip would show no class
            raise ValueError(f"data.speed must satisfy 0 < min <= max <= 0.25, got ({lo}, {hi})")
        lo, hi = self.object_scale
        if not 0.05 <= lo <= hi <= 0.45:
            raise ValueError(f"data.object_scale must satisfy 0.05 <= min <= max <= 0.45, got "
                             f"({lo}, {hi})")
        return self


def _wrapped(coords: np.ndarray, centre: float, size: int) -> np.ndarray:
    """Signed offset of ``coords`` from ``centre`` on a circle of ``size`` px, in [-S/2, S/2)."""
    return (coords - centre + size / 2.0) % size - size / 2.0


def _object_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Foreground of ``shape`` on shape-frame coordinates ``u, v`` (unit = radius)."""
    rho2 = u * u + v * v
    if shape == "disc":
        return rho2 <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    if shape == "ring":
        return (rho2 <= 1.0) & (rho2 >= 0.55**2)
    raise AssertionError(f"no drawing for shape {shape!r}")


def draw_clip(label: int, size: int, num_frames: int, rng: np.random.Generator,
              speed: tuple[float, float] = (0.04, 0.08),
              object_scale: tuple[float, float] = (0.15, 0.25)) -> np.ndarray:
    """One clip of class ``MOTION_NAMES[label]`` as uint8 (T, 3, size, size).

    Every draw from ``rng`` happens in the same order whatever ``label`` is, and the label only
    picks the direction of the velocity: two calls with equal generators and different labels
    give the same first frame (then the shape moves apart).
    """
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    radius = rng.uniform(*object_scale) * size
    theta = rng.uniform(0.0, 2.0 * math.pi)
    cy, cx = rng.uniform(0.0, size, 2)  # uniform on the torus: no position carries the class
    pace = rng.uniform(*speed) * size
    bg, fg = rng.uniform(0.05, 0.35), rng.uniform(0.65, 0.95)
    gy, gx = rng.uniform(-0.15, 0.15, 2)
    noise_std = rng.uniform(0.02, 0.06)
    noise = rng.normal(0.0, noise_std, (num_frames, size, size)).astype(np.float32)

    dy, dx = DIRECTIONS[MOTION_NAMES[label]]
    coords = np.arange(size, dtype=np.float32) + 0.5
    centred = coords - size / 2.0
    background = bg + (gy * centred[:, None] + gx * centred[None, :]) / size  # (S, S), static
    cos, sin = math.cos(theta), math.sin(theta)
    frames = np.empty((num_frames, size, size), dtype=np.float32)
    for t in range(num_frames):
        oy = _wrapped(coords, cy + t * pace * dy, size)[:, None] / radius  # (S, 1)
        ox = _wrapped(coords, cx + t * pace * dx, size)[None, :] / radius  # (1, S)
        mask = _object_mask(shape, cos * ox + sin * oy, -sin * ox + cos * oy)
        frames[t] = np.where(mask, fg, background)
    frames += noise
    grey = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # (T, S, S)
    return np.repeat(grey[:, None], 3, axis=1)  # (T, 3, S, S)


class SyntheticVideo(Dataset):
    """Procedurally drawn moving shapes, ``num_classes`` balanced motion classes, no download.

    Labels cycle through the classes by index (``index % num_classes``), so every split is
    balanced to within one clip per class. The content depends on ``data.seed`` only, not on
    the run seed, so runs with different seeds see the same clips.
    """

    Config = SyntheticVideoConfig
    #: Items are clips, uint8 (T, 3, H, W); image datasets have ``"image"``.
    modality: ClassVar[str] = "video"

    def __init__(self, config: SyntheticVideoConfig, train: bool = True, seed: int = 0) -> None:
        self.config = config
        self.train = train
        self.classes = list(MOTION_NAMES[: config.num_classes])
        self.num_frames = config.num_frames
        self._size = config.train_size if train else config.val_size
        self._split_key = _SPLIT_KEYS[train]

    def __len__(self) -> int:
        return self._size

    def label(self, index: int) -> int:
        """The label of ``index`` without drawing the clip."""
        return index % self.config.num_classes

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self._size:
            raise IndexError(f"index {index} out of range for {self._size} clips")
        rng = np.random.default_rng([self.config.seed, self._split_key, index])
        label = self.label(index)
        clip = draw_clip(label, self.config.native_size, self.config.num_frames, rng,
                         self.config.speed, self.config.object_scale)
        return torch.from_numpy(clip), label
