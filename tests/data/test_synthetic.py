"""The built-in synthetic shapes: deterministic, balanced, learnable from shape, not colour."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.data.synthetic import (
    CLASS_NAMES,
    FIXED_BACKGROUND,
    FIXED_FOREGROUND,
    TEXTURE_NAMES,
    SyntheticShapes,
)
from jepa_kit.registry import registry


def make(train: bool = True, **overrides: object) -> SyntheticShapes:
    fields = {"num_classes": 4, "train_size": 64, "val_size": 32, "native_size": 32}
    fields.update(overrides)
    return SyntheticShapes(SyntheticShapes.Config(**fields), train=train)


def test_registered_under_its_kind() -> None:
    assert registry("dataset").load("synthetic") is SyntheticShapes


def test_items_are_uint8_images_with_labels_in_range() -> None:
    ds = make(num_classes=8)
    assert len(ds) == 64 and len(make(train=False)) == 32
    assert ds.classes == list(CLASS_NAMES)
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
        assert 0 <= label < 8 and label == ds.label(i)
    with pytest.raises(IndexError):
        ds[64]


def test_same_index_gives_same_pixels() -> None:
    a, b = make(), make()
    for i in (0, 5, 63):
        assert torch.equal(a[i][0], b[i][0])
    assert torch.equal(a[7][0], a[7][0])


def test_seeds_and_splits_give_different_images() -> None:
    base, other_seed, val = make(), make(seed=1), make(train=False)
    for i in range(8):
        assert not torch.equal(base[i][0], other_seed[i][0])
        assert not torch.equal(base[i][0], val[i][0])


def test_run_seed_does_not_change_content() -> None:
    config = SyntheticShapes.Config(native_size=32)
    assert torch.equal(SyntheticShapes(config, seed=0)[3][0], SyntheticShapes(config, seed=9)[3][0])


def test_classes_are_balanced() -> None:
    ds = make(num_classes=3, train_size=31)
    counts = torch.bincount(torch.tensor([ds.label(i) for i in range(len(ds))]))
    assert counts.tolist() == [11, 10, 10]


@pytest.mark.parametrize("num_classes", [1, len(CLASS_NAMES) + 1])
def test_num_classes_bounds(num_classes: int) -> None:
    with pytest.raises(ValidationError):
        SyntheticShapes.Config(num_classes=num_classes)


def _features(ds: SyntheticShapes, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    feats, labels = [], []
    for i in range(len(ds)):
        image, label = ds[i]
        x = image.float() / 255.0
        if kind == "colour":
            feats.append(x.mean((1, 2)))
        else:
            # The grey-level amplitude spectrum: blind to position and colour, sees shape.
            g = x.mean(0)
            g = (g - g.mean()) / (g.std() + 1e-6)
            feats.append(torch.log1p(torch.fft.fft2(g).abs()).flatten())
        labels.append(label)
    return torch.stack(feats), torch.tensor(labels)


def test_fixed_colours_are_a_light_shape_on_a_dark_ground() -> None:
    ds = make(num_classes=2, native_size=64)
    assert ds.config.colours == "fixed"
    for i in range(0, 16, 2):  # discs, at least a quarter of the frame
        image = ds[i][0].float() / 255.0
        # grey: the three channels differ by their independent noise only
        channel_means = image.mean((1, 2))
        assert float(channel_means.max() - channel_means.min()) < 0.02
        dark, light = torch.quantile(image.mean(0).flatten(), torch.tensor([0.1, 0.95]))
        # the ground's shading ramp spans at most +-0.075, the noise std 0.08 / sqrt(3)
        assert abs(float(dark) - FIXED_BACKGROUND) < 0.12
        assert abs(float(light) - FIXED_FOREGROUND) < 0.12


def _spectrum_and_colour_accuracy(colours: str) -> tuple[float, float]:
    """Val accuracy of a 5-NN on the amplitude spectrum and of a nearest mean-colour centroid."""
    train = make(train_size=400, val_size=200, colours=colours)
    val = make(train=False, train_size=400, val_size=200, colours=colours)
    xs, ys = _features(train, "spectrum")
    xq, yq = _features(val, "spectrum")
    nearest = torch.cdist(xq, xs).topk(5, largest=False).indices
    knn_acc = (torch.mode(ys[nearest], 1).values == yq).float().mean().item()

    cs, ys = _features(train, "colour")
    cq, yq = _features(val, "colour")
    centroids = torch.stack([cs[ys == c].mean(0) for c in range(4)])
    colour_acc = (torch.cdist(cq, centroids).argmin(1) == yq).float().mean().item()
    return knn_acc, colour_acc


def test_random_colours_hide_the_label_from_the_mean_colour() -> None:
    # Measured at seed 0: spectrum 5-NN ~0.50 (0.50-0.55 over seeds 0-4), mean-colour nearest
    # centroid ~0.22 (<= 0.29); chance is 0.25 and the val-set standard error ~0.03.
    knn_acc, colour_acc = _spectrum_and_colour_accuracy("random")
    assert knn_acc >= 0.4
    assert colour_acc <= 0.35


def test_fixed_colours_leave_the_shape_as_the_main_signal() -> None:
    # Measured at seed 0: spectrum 5-NN 0.75, mean grey level 0.41 (it measures the shape's
    # area, and a striped disc is half as bright as a plain one).
    knn_acc, colour_acc = _spectrum_and_colour_accuracy("fixed")
    assert knn_acc >= 0.6
    assert knn_acc >= colour_acc + 0.2


def test_texture_pattern_fills_the_image_with_its_class() -> None:
    ds = make(pattern="textures", num_classes=4, native_size=32)
    assert ds.classes == list(TEXTURE_NAMES)
    for i in range(8):
        image, label = ds[i]
        assert image.shape == (3, 32, 32) and label == i % 4
        # both colours in every quadrant: the pattern has no plain background
        quadrants = image.float().unfold(1, 16, 16).unfold(2, 16, 16)  # (3, 2, 2, 16, 16)
        contrast = quadrants.flatten(3).std(3).amax(0)  # (2, 2): most varying channel
        assert bool((contrast > 20).all()), contrast
    assert not torch.equal(ds[0][0], make(num_classes=4, native_size=32)[0][0])
    with pytest.raises(ValidationError, match="pattern='textures' has 4 classes"):
        SyntheticShapes.Config(pattern="textures", num_classes=5)


def test_object_scale_sets_the_shape_size_and_is_checked() -> None:
    def foreground_share(scale: tuple[float, float]) -> float:
        ds = make(object_scale=scale, num_classes=2, native_size=64)
        shares = []
        for i in range(0, 32, 2):  # discs: class 0
            image = ds[i][0].float()
            corner = image[:, :2, :2].mean((1, 2))  # background colour (shapes avoid corners)
            shares.append(((image - corner[:, None, None]).abs().sum(0) > 60).float().mean())
        return float(torch.stack(shares).mean())

    assert foreground_share((0.4, 0.45)) > 1.5 * foreground_share((0.15, 0.2))
    with pytest.raises(ValidationError, match="object_scale"):
        SyntheticShapes.Config(object_scale=(0.5, 0.3))
