"""A built-in labelled video set drawn on the fly: shapes whose class is the direction they move.

Each clip is one shape (disc, square, cross or ring, drawn independently of the class) sliding
in a straight line at a constant speed over a static shaded background, with fresh noise in
every frame. The class is the direction of motion (right, left, down, up, then the diagonals).
The picture wraps around the edges (the frame is a torus) and the start position is uniform, so
the object's position in any one frame is uniform whatever the class: every single frame has
the same distribution in every class and only the change from frame to frame carries the label.

Three options make the motion a stronger signal without breaking that property:
``num_objects`` shapes (each with its own uniform start) all move with the clip's velocity;
``background = "texture"`` replaces the static ramp by a random periodic texture that moves
with them (the whole picture pans, so every patch shows the motion, where a static background
lets most tokens be predicted from their position alone); ``noise`` sets the range of the
per-frame noise (``(0, 0)``: none). The texture is stationary on the torus (Gaussian-filtered
white noise, translated by a phase shift), so a translated frame has the same distribution as
the first one whatever the direction.
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

from jepa_kit.data.base import DatasetConfig
from jepa_kit.data.synthetic import SeededSplit

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

#: The grey the texture background is centred on (one level for every clip, so brightness is
#: no extra nuisance; a clip's mean still varies a little with its texture's lowest frequency).
TEXTURE_GREY = 0.4

# Distinct from synthetic.py's keys, so the two sets never share a seed stream.


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
    num_objects: int = Field(
        1, ge=0, le=16, description="Shapes per clip, each with its own kind, size, grey level "
        "and uniform start position; all move with the clip's one velocity (0: none, only "
        "with background = \"texture\")."
    )
    background: Literal["shaded", "texture"] = Field(
        "shaded", description="shaded: a static linear grey ramp; texture: a random periodic "
        "texture (blobs of about native_size / 16 px) that moves with the shapes, so the whole "
        "picture pans."
    )
    texture_contrast: tuple[float, float] = Field(
        (0.06, 0.12), description="Range of the texture's std (grey levels in [0, 1], around a "
        "mean grey of 0.4), drawn per clip; used with background = \"texture\"."
    )
    noise: tuple[float, float] = Field(
        (0.02, 0.06), description="Range of the std of the Gaussian noise added to every frame "
        "(fresh per frame), drawn per clip; (0, 0): no noise."
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
        lo, hi = self.noise
        if not 0.0 <= lo <= hi <= 0.3:
            raise ValueError(f"data.noise must satisfy 0 <= min <= max <= 0.3, got ({lo}, {hi})")
        lo, hi = self.texture_contrast
        if not 0.0 < lo <= hi <= 0.3:
            raise ValueError(f"data.texture_contrast must satisfy 0 < min <= max <= 0.3, got "
                             f"({lo}, {hi})")
        if self.num_objects == 0 and self.background != "texture":
            raise ValueError("data.num_objects = 0 leaves nothing that moves on a static "
                             "background; use data.background = \"texture\" or draw a shape")
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


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """Spectrum (S, S) of a stationary periodic texture of unit std: white noise low-passed by
    a Gaussian of ``size / 16`` px, so blobs are a few px wide at every ``size``."""
    sigma = size / 16.0
    f = np.fft.fftfreq(size)
    gain = np.exp(-2.0 * (math.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    spectrum = np.fft.fft2(rng.standard_normal((size, size))) * gain
    return spectrum / max(float(np.fft.ifft2(spectrum).real.std()), 1e-12)


def _shifted(spectrum: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """The texture of ``spectrum`` translated by (dy, dx) px on the torus (sub-pixel exact)."""
    f = np.fft.fftfreq(spectrum.shape[0])
    phase = np.exp(-2j * math.pi * (f[:, None] * dy + f[None, :] * dx))
    return np.fft.ifft2(spectrum * phase).real


def draw_clip(label: int, size: int, num_frames: int, rng: np.random.Generator,
              speed: tuple[float, float] = (0.04, 0.08),
              object_scale: tuple[float, float] = (0.15, 0.25), *, num_objects: int = 1,
              background: str = "shaded", noise: tuple[float, float] = (0.02, 0.06),
              texture_contrast: tuple[float, float] = (0.06, 0.12)) -> np.ndarray:
    """One clip of class ``MOTION_NAMES[label]`` as uint8 (T, 3, size, size).

    Every draw from ``rng`` happens in the same order whatever ``label`` is, and the label only
    picks the direction of the velocity: two calls with equal generators and different labels
    give the same first frame (then the picture moves apart). The draws of the first shape,
    background ramp and noise come first and in the original order, so the default options
    give the same pixels as a single-shape set; extra shapes and the texture are drawn after.
    """
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    radius = rng.uniform(*object_scale) * size
    theta = rng.uniform(0.0, 2.0 * math.pi)
    cy, cx = rng.uniform(0.0, size, 2)  # uniform on the torus: no position carries the class
    pace = rng.uniform(*speed) * size
    bg, fg = rng.uniform(0.05, 0.35), rng.uniform(0.65, 0.95)
    gy, gx = rng.uniform(-0.15, 0.15, 2)
    noise_std = rng.uniform(*noise)
    frame_noise = rng.normal(0.0, noise_std, (num_frames, size, size)).astype(np.float32)
    objects = [(shape, radius, theta, cy, cx, fg)][:num_objects]
    for _ in range(num_objects - 1):  # each its own start, all with the clip's velocity
        kind = SHAPES[int(rng.integers(len(SHAPES)))]
        r, th = rng.uniform(*object_scale) * size, rng.uniform(0.0, 2.0 * math.pi)
        y, x = rng.uniform(0.0, size, 2)
        objects.append((kind, r, th, y, x, rng.uniform(0.65, 0.95)))
    texture = None  # (contrast, spectrum) of a panning background
    if background == "texture":
        texture = (rng.uniform(*texture_contrast), _texture(size, rng))

    dy, dx = DIRECTIONS[MOTION_NAMES[label]]
    coords = np.arange(size, dtype=np.float32) + 0.5
    centred = coords - size / 2.0
    ramp = bg + (gy * centred[:, None] + gx * centred[None, :]) / size  # (S, S), static
    frames = np.empty((num_frames, size, size), dtype=np.float32)
    for t in range(num_frames):
        sy, sx = t * pace * dy, t * pace * dx
        if texture is None:
            frames[t] = ramp
        else:
            frames[t] = TEXTURE_GREY + texture[0] * _shifted(texture[1], sy, sx)
        for kind, r, th, y, x, grey in objects:
            oy = _wrapped(coords, y + sy, size)[:, None] / r  # (S, 1)
            ox = _wrapped(coords, x + sx, size)[None, :] / r  # (1, S)
            cos, sin = math.cos(th), math.sin(th)
            frames[t][_object_mask(kind, cos * ox + sin * oy, -sin * ox + cos * oy)] = grey
    frames += frame_noise
    grey_frames = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # (T, S, S)
    return np.repeat(grey_frames[:, None], 3, axis=1)  # (T, 3, S, S)


class SyntheticVideo(SeededSplit):
    """Procedurally drawn moving shapes, ``num_classes`` balanced motion classes, no download.

    Labels cycle through the classes by index (``index % num_classes``), so every split is
    balanced to within one clip per class. The content depends on ``data.seed`` only, not on
    the run seed, so runs with different seeds see the same clips.
    """

    Config = SyntheticVideoConfig
    #: Items are clips, uint8 (T, 3, H, W); image datasets have ``"image"``.
    modality: ClassVar[str] = "video"

    split_keys: ClassVar[dict[bool, int]] = {True: 0x76747261, False: 0x7676616C}  # "vtra", "vval"
    items: ClassVar[str] = "clips"

    def __init__(self, config: SyntheticVideoConfig, train: bool = True, seed: int = 0) -> None:
        super().__init__(config, train, seed)
        self.classes = list(MOTION_NAMES[: config.num_classes])
        self.num_frames = config.num_frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = self.rng(index)
        label = self.label(index)
        c = self.config
        clip = draw_clip(label, c.native_size, c.num_frames, rng, c.speed, c.object_scale,
                         num_objects=c.num_objects, background=c.background, noise=c.noise,
                         texture_contrast=c.texture_contrast)
        return torch.from_numpy(clip), label
