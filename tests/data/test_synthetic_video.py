"""The built-in synthetic video set: deterministic, balanced, and labelled by motion alone."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from jepa_kit.data.synthetic_video import (
    DIRECTIONS,
    MOTION_NAMES,
    SyntheticVideo,
    draw_clip,
)
from jepa_kit.registry import registry
from jepa_kit.testing import check_component


def make(train: bool = True, **overrides: object) -> SyntheticVideo:
    fields = {"num_classes": 4, "train_size": 64, "val_size": 32}
    fields.update(overrides)
    return SyntheticVideo(SyntheticVideo.Config(**fields), train=train)


def test_registered_and_conforms() -> None:
    assert registry("dataset").load("synthetic_video") is SyntheticVideo
    check_component("dataset", "synthetic_video")


def test_items_are_uint8_clips_with_labels() -> None:
    ds = make(num_classes=8, num_frames=6, native_size=24)
    assert ds.classes == list(MOTION_NAMES) and ds.modality == "video" and ds.num_frames == 6
    assert len(ds) == 64 and len(make(train=False)) == 32
    for i in (0, 1, 9, 63):
        clip, label = ds[i]
        assert clip.dtype == torch.uint8 and clip.shape == (6, 3, 24, 24)
        assert label == i % 8 == ds.label(i)
        # Grey: the three channels are equal.
        assert torch.equal(clip[:, 0], clip[:, 1]) and torch.equal(clip[:, 0], clip[:, 2])
    with pytest.raises(IndexError, match="out of range for 64 clips"):
        ds[64]


def test_same_index_same_pixels_and_seeds_splits_differ() -> None:
    a, b = make(), make()
    for i in (0, 5, 63):
        assert torch.equal(a[i][0], b[i][0])
    other_seed, val = make(seed=1), make(train=False)
    for i in range(4):
        assert not torch.equal(a[i][0], other_seed[i][0])
        assert not torch.equal(a[i][0], val[i][0])
    config = SyntheticVideo.Config()
    assert torch.equal(SyntheticVideo(config, seed=0)[3][0], SyntheticVideo(config, seed=7)[3][0])


def test_classes_are_balanced() -> None:
    ds = make(num_classes=3, train_size=31)
    counts = torch.bincount(torch.tensor([ds.label(i) for i in range(len(ds))]))
    assert counts.tolist() == [11, 10, 10]


def test_label_changes_motion_not_the_first_frame() -> None:
    clips = [draw_clip(label, 32, 4, np.random.default_rng(5)) for label in range(8)]
    for clip in clips[1:]:
        assert np.array_equal(clip[0], clips[0][0])  # same first frame, whatever the class
        assert not np.array_equal(clip[1:], clips[0][1:])  # then the shape moves another way


def test_default_options_keep_the_single_shape_pixels() -> None:
    """The options added later (num_objects, background, noise) draw after the original
    stream, so a set at their defaults gives the pixels it always gave."""
    ds = make(num_classes=8, train_size=16, num_frames=4)
    digests = [hashlib.sha256(ds[i][0].numpy().tobytes()).hexdigest()[:16] for i in (0, 5)]
    assert digests == ["40aa21639cb9b8ee", "e537db480a8920d8"]


def _changed(clip: np.ndarray) -> float:
    """Share of the pixels whose grey level differs between frames 0 and 1."""
    return float((clip[0, 0] != clip[1, 0]).mean())


def test_texture_background_pans_and_noise_can_be_off() -> None:
    """shaded + no noise: only the shape's pixels change; texture: the whole picture moves,
    by the clip's velocity (the shift from frame 0 to 2 has the class's direction)."""
    small = {"object_scale": (0.05, 0.05), "noise": (0.0, 0.0)}
    for label in range(8):
        rng = np.random.default_rng(label)
        still = draw_clip(label, 32, 3, rng, speed=(0.1, 0.1), **small)
        assert 0 < _changed(still) < 0.05  # a 1.6 px shape moved over a static ramp
        rng = np.random.default_rng(label)
        pan = draw_clip(label, 32, 3, rng, speed=(0.1, 0.1), background="texture", **small)
        assert _changed(pan) > 0.5
        frames = pan[:, 0].astype(np.float64) / 255.0
        dy, dx = _shift(frames[0], frames[2])  # 2 frames of 3.2 px: 6.4 px along the direction
        want = np.array(DIRECTIONS[MOTION_NAMES[label]]) * 6.4
        assert np.abs(np.array([dy, dx]) - want).max() <= 1.5, (label, dy, dx)


def test_texture_alone_is_centred_on_one_grey_with_the_set_contrast() -> None:
    ds = make(**TEXTURE)
    means = [_grey(ds[i][0]).mean() for i in range(32)]
    assert abs(np.mean(means) - 0.4) < 0.01 and max(abs(m - 0.4) for m in means) < 0.08
    for i in range(4):  # every frame has the set std (a translation keeps it)
        assert np.allclose(_grey(ds[i][0]).std(axis=(1, 2)), 0.1, atol=0.005)


def test_more_objects_cover_more_of_the_frame() -> None:
    one = draw_clip(0, 32, 2, np.random.default_rng(1), noise=(0.0, 0.0))
    four = draw_clip(0, 32, 2, np.random.default_rng(1), noise=(0.0, 0.0), num_objects=4)
    assert np.array_equal(one[0, 0] >= 166, (four[0, 0] >= 166) & (one[0, 0] >= 166))
    assert (four[0, 0] >= 166).sum() > 1.5 * (one[0, 0] >= 166).sum()  # fg >= 0.65 * 255


def _shift(frame_a: np.ndarray, frame_b: np.ndarray) -> tuple[int, int]:
    """The circular (dy, dx) that best maps ``frame_a`` onto ``frame_b`` (phase correlation)."""
    fa, fb = (np.fft.fft2(f - f.mean()) for f in (frame_a, frame_b))
    corr = np.fft.ifft2(np.conj(fa) * fb / (np.abs(fa * fb) + 1e-6)).real
    corr[0, 0] = -np.inf  # the static background's peak
    dy, dx = np.unravel_index(int(np.argmax(corr)), corr.shape)
    size = corr.shape[0]
    return (dy + size // 2) % size - size // 2, (dx + size // 2) % size - size // 2


def _grey(clip: torch.Tensor) -> np.ndarray:
    return clip[:, 0].numpy().astype(np.float64) / 255.0  # (T, S, S)


def test_two_frames_separate_the_classes() -> None:
    ds = make(train=False, num_classes=8, val_size=96, num_frames=3)
    directions = np.array([DIRECTIONS[name] for name in MOTION_NAMES])  # (8, 2)
    correct = 0
    for i in range(len(ds)):
        clip, label = ds[i]
        frames = _grey(clip)
        correct += int(np.argmax(directions @ np.array(_shift(frames[0], frames[2])))) == label
    assert correct / len(ds) >= 0.95


PANNING = {"background": "texture", "num_objects": 3, "noise": (0.0, 0.0)}
#: The quickstart's clips: the texture alone, one contrast, no noise.
TEXTURE = {"background": "texture", "num_objects": 0, "noise": (0.0, 0.0),
           "texture_contrast": (0.1, 0.1)}


@pytest.mark.parametrize(("frame", "options"),
                         [(0, {}), (3, {}), (0, PANNING), (3, PANNING), (3, TEXTURE)])
def test_a_single_frame_does_not_tell_the_class(frame: int, options: dict[str, object]) -> None:
    """Nearest class mean on one frame (raw pixels, and a position-free intensity histogram)
    scores chance on held-out clips, while the same classifier on a frame difference works;
    also with several shapes on a moving texture and no noise (the quickstart's clips)."""
    train = make(train_size=256, num_frames=4, **options)
    val = make(train=False, val_size=128, num_frames=4, **options)

    def features(ds: SyntheticVideo, kind: str) -> tuple[np.ndarray, np.ndarray]:
        rows, labels = [], []
        for i in range(len(ds)):
            clip, label = ds[i]
            frames = _grey(clip)
            if kind == "pixels":
                rows.append(frames[frame].ravel())
            elif kind == "histogram":
                rows.append(np.histogram(frames[frame], bins=16, range=(0.0, 1.0))[0])
            else:  # where the shape went between two frames, as one (dy, dx) shift
                rows.append(np.array(_shift(frames[0], frames[1]), dtype=np.float64))
            labels.append(label)
        return np.stack(rows).astype(np.float64), np.array(labels)

    def accuracy(kind: str) -> float:
        x, y = features(train, kind)
        means = np.stack([x[y == c].mean(0) for c in range(4)])
        xv, yv = features(val, kind)
        pred = np.argmin(((xv[:, None] - means[None]) ** 2).sum(-1), axis=1)
        return float((pred == yv).mean())

    # Chance is 0.25; 128 held-out clips put 0.40 about 4 standard deviations above it.
    assert accuracy("pixels") < 0.40
    assert accuracy("histogram") < 0.40
    assert accuracy("shift") > 0.9


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 9}, "num_classes"),
        ({"num_frames": 1}, "num_frames"),
        ({"speed": (0.1, 0.05)}, "data.speed must satisfy"),
        ({"speed": (0.0, 0.05)}, r"data.speed must satisfy 0 < min"),
        ({"object_scale": (0.01, 0.2)}, "data.object_scale must satisfy"),
        ({"noise": (0.1, 0.05)}, "data.noise must satisfy"),
        ({"noise": (-0.01, 0.05)}, r"data.noise must satisfy 0 <= min"),
        ({"num_objects": 0}, "num_objects"),
        ({"num_objects": 17}, "num_objects"),
        ({"num_objects": 0}, "data.num_objects = 0 leaves nothing that moves"),
        ({"texture_contrast": (0.0, 0.1)}, "data.texture_contrast must satisfy 0 < min"),
        ({"texture_contrast": (0.2, 0.1)}, "data.texture_contrast must satisfy"),
        ({"background": "wavy"}, "background"),
        ({"frames": 8}, "frames"),
    ],
)
def test_bad_config(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SyntheticVideo.Config(**fields)
