"""Conformance check of datasets: what the loader's workers read."""

from __future__ import annotations

import pickle

import numpy as np
import torch
from PIL import Image

from jepa_kit.testing.base import ConfigLike, check_config, expect, label


def _as_array(image: object, who: str, video: bool = False) -> np.ndarray:
    frames = getattr(image, "frames", None)
    if frames is not None:  # a trajectory (modality "trajectory"): its frames are a clip
        image, video = frames, True
    if video:  # a dataset with modality "video" returns clips, uint8 (T, 3, H, W)
        expect(isinstance(image, torch.Tensor) and image.dtype == torch.uint8
               and image.dim() == 4 and image.shape[1] == 3,
               f"{who}: a video dataset's items must be uint8 clips (T, 3, H, W), got "
               f"{getattr(image, 'dtype', type(image).__name__)} "
               f"{tuple(getattr(image, 'shape', ()))}")
        assert isinstance(image, torch.Tensor)
        return image.numpy()
    if isinstance(image, Image.Image):
        expect(image.mode == "RGB", f"{who}: images must be RGB, got mode {image.mode!r}")
        return np.asarray(image)
    expect(isinstance(image, torch.Tensor), f"{who}: an item's image must be a PIL.Image or a "
           f"uint8 tensor (3, H, W), got {type(image).__name__}")
    assert isinstance(image, torch.Tensor)
    expect(image.dtype == torch.uint8 and image.dim() == 3 and image.shape[0] == 3,
           f"{who}: image tensors must be uint8 (3, H, W), got {image.dtype} "
           f"{tuple(image.shape)}")
    return image.numpy()


def check_dataset(cls: type, config: ConfigLike = None, *, train: bool = True, seed: int = 0,
                  name: str | None = None) -> None:
    """Non-empty; items are (RGB image, int label) with labels matching ``classes`` (a uint8
    clip (T, 3, H, W) for a dataset whose ``modality`` is ``"video"``); the same
    index gives the same item from a second instance built the same way."""
    cfg = check_config(cls, "dataset", config, name)
    who = f"dataset {label(cls)}"
    data = cls(cfg, train=train, seed=seed)
    video = getattr(data, "modality", "image") == "video"
    classes = getattr(data, "classes", None)
    expect(isinstance(classes, list) and all(isinstance(c, str) for c in classes),
           f"{who}: .classes must be a list of str, got {classes!r}")
    assert isinstance(classes, list)
    size = len(data)
    expect(isinstance(size, int) and size > 0, f"{who}: len() must be a positive int, got {size}")
    try:  # data-loader workers started with spawn receive the dataset pickled
        twin = pickle.loads(pickle.dumps(cls(cfg, train=train, seed=seed)))
    except Exception as exc:
        raise AssertionError(f"{who}: the dataset cannot be pickled ({type(exc).__name__}: "
                             f"{exc}); data-loader workers receive it pickled") from None
    expect(len(twin) == size, f"{who}: two instances built alike differ in length")
    for index in sorted({0, size - 1}):
        item = data[index]
        expect(isinstance(item, tuple) and len(item) == 2,
               f"{who}: item {index} must be an (image, label) pair, got {type(item).__name__}")
        image, target = item
        pixels = _as_array(image, f"{who}: item {index}", video)
        expect(isinstance(target, int) and not isinstance(target, bool),
               f"{who}: item {index} label must be an int, got {type(target).__name__}")
        valid = target == -1 if not classes else 0 <= target < len(classes)
        expect(valid, f"{who}: item {index} label {target} does not fit classes={classes} "
               "(-1 only for unlabelled data)")
        other, other_target = twin[index]
        expect(other_target == target and np.array_equal(_as_array(other, who, video), pixels),
               f"{who}: item {index} differs between two instances built alike; an item must "
               "depend only on the config, the split, the seed and the index")
