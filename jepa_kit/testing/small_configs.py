"""The small configs the conformance checks build components with (``SMALL_CONFIGS``).

Components too heavy (or too demanding) at their defaults get small options here; the rest are
checked with their defaults. Plugin authors may add their own entry, or pass a config directly.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from jepa_kit.testing.base import ConfigLike

#: Options of a small config, or a function returning them (run only when the case runs).
SmallConfig = Mapping[str, Any] | Callable[[], Mapping[str, Any]]

_folders: list[Path] = []


def tiny_image_folder() -> Mapping[str, Any]:
    """Options of an ``image_folder`` dataset over four small PNGs in two class folders."""
    if not _folders:
        root = Path(tempfile.mkdtemp(prefix="jepa-kit-conformance-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        rng = np.random.default_rng(0)
        for label in ("a", "b"):
            (root / label).mkdir()
            for i in range(2):
                pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / label / f"{i}.png")
        _folders.append(root)
    return {"root": str(_folders[0]), "img_size": 32, "num_workers": 0}


def tiny_shards() -> Mapping[str, Any]:
    """Options of a ``webdataset`` dataset: ``tiny_image_folder`` written as two tar shards."""
    from jepa_kit.data.shard_writer import write_shards

    out = Path(str(tiny_image_folder()["root"]) + "-shards")
    if not out.exists():
        write_shards(str(tiny_image_folder()["root"]), str(out), shard_size=2)
        atexit.register(shutil.rmtree, out, ignore_errors=True)
    return {"root": str(out), "img_size": 32, "num_workers": 0, "streams": 1}


def tiny_video_folder() -> Mapping[str, Any]:
    """Options of a ``video_folder`` dataset over four 16 px, 12-frame videos in two classes."""
    from jepa_kit.data.video_decode import write_video

    root = Path(tempfile.mkdtemp(prefix="jepa-kit-conformance-video-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(2):
            write_video(root / label / f"{i}.mp4",
                        rng.integers(0, 256, (12, 3, 16, 16), dtype=np.uint8))
    return {"root": str(root), "img_size": 16, "num_frames": 4, "frame_step": 2,
            "num_workers": 0}


def _scratch(prefix: str) -> str:
    """A temporary folder removed when the process ends."""
    root = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


#: (kind, name) -> small options for components too heavy (or too demanding) at their defaults.
SMALL_CONFIGS: dict[tuple[str, str], SmallConfig] = {
    ("encoder", "vit"): {"size": "tiny", "embed_dim": 48, "depth": 1, "num_heads": 2,
                         "patch_size": 8},
    ("encoder", "timm"): {"model_name": "vit_tiny_patch16_224", "patch_size": 8,
                          "model_kwargs": {"depth": 1, "embed_dim": 48, "num_heads": 2}},
    ("predictor", "vit_predictor"): {"embed_dim": 32, "depth": 1},
    ("encoder", "vit_video"): {"size": "tiny", "embed_dim": 48, "depth": 1,
                               "num_heads": 2, "patch_size": 8, "num_frames": 1},
    ("predictor", "vit_video_predictor"): {"embed_dim": 32, "depth": 1,
                                         "num_mask_tokens": 1},
    ("predictor", "ac_predictor"): {"embed_dim": 32, "depth": 1, "num_heads": 2,
                                    "action_dim": 2, "state_dim": 2},
    ("dataset", "trajectories"): {"train_size": 8, "val_size": 4, "img_size": 32},
    ("planner", "cem"): {"samples": 64, "elites": 8, "iterations": 4},
    ("planner", "mppi"): {"samples": 64, "iterations": 12},
    ("masker", "multiblock"): {"min_keep": 4},
    ("dataset", "synthetic"): {"train_size": 8, "val_size": 4, "native_size": 16,
                               "img_size": 32, "num_workers": 0},
    ("dataset", "image_folder"): tiny_image_folder,
    ("dataset", "webdataset"): tiny_shards,
    ("dataset", "video_folder"): tiny_video_folder,
    ("dataset", "synthetic_video"): {"train_size": 8, "val_size": 4, "num_frames": 4,
                                     "native_size": 16, "num_workers": 0},
    ("views", "multicrop"): {"num_local": 2, "local_size": 16},
    ("projector", "mlp"): {"hidden_dim": 32, "out_dim": 16},
    ("method", "lejepa"): {"num_slices": 32},
    ("regularizer", "sigreg"): {"num_slices": 16},
    # The paper's 20 full-batch steps at lr 1e-3 do not fit 32 images; mini-batches do.
    ("eval_protocol", "attentive"): {"batch_size": 4, "lrs": (3e-2,), "epochs": 50},
    # Trackers without a network: W&B offline, MLflow into a file store of its own.
    ("logger", "wandb"): {"mode": "offline"},
    ("logger", "mlflow"): lambda: {"uri": _scratch("jepa-kit-mlruns-")},
}


def small_config(kind: str, name: str,
                 configs: Mapping[tuple[str, str], SmallConfig] | None = None) -> ConfigLike:
    """The options ``check_component`` uses for ``(kind, name)``; None means the defaults."""
    found = (SMALL_CONFIGS if configs is None else configs).get((kind, name))
    if found is None:
        return None
    return found() if callable(found) else found
