"""Sweeping the registry: every installed component through the check of its kind.

``conformance_cases()`` lists ``(kind, name)`` without importing anything, so a test module can
parametrize over it at collection time; ``check_component(kind, name)`` loads the component and
runs the check with a small config, so the whole sweep stays fast on a laptop CPU. Heavy
components get their small config from ``SMALL_CONFIGS``; the rest are checked with their
defaults. Plugin authors may add their own entry there, or pass a config directly.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from jepa_kit.registry import GROUPS, RegistryError, registry
from jepa_kit.testing.base import ConfigLike, built, expect, to_config
from jepa_kit.testing.datasets import check_dataset
from jepa_kit.testing.eval_protocols import check_eval_protocol
from jepa_kit.testing.loggers import check_logger
from jepa_kit.testing.maskers import check_masker
from jepa_kit.testing.methods import check_method, check_projector, check_views
from jepa_kit.testing.models import check_encoder, check_loss, check_predictor
from jepa_kit.testing.optim import check_optimizer, check_schedule
from jepa_kit.testing.regularizers import check_regularizer
from jepa_kit.testing.updaters import check_target_updater
from jepa_kit.testing.world_models import check_action_predictor, check_planner

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

#: method -> options of its slot sections in the method check (V-JEPA: the video encoder
#: built for the check's 4-frame clips; its own encoder check runs its 1-frame image mode;
#: one mask token per masker generator, where the predictor check calls one).
METHOD_SECTIONS: dict[str, Mapping[str, Mapping[str, Any]]] = {
    "vjepa": {"encoder": {"num_frames": 4}, "predictor": {"num_mask_tokens": 2}},
}

#: The grid maskers are checked on (quickstart: 32 px images, 4 px patches).
MASKER_GRID = (8, 8)
#: The image side encoders are checked at, when their patch size divides it.
ENCODER_IMG_SIZE = 32


def conformance_cases(kinds: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
    """``(kind, name)`` of every installed component, in a stable order; imports nothing."""
    for kind in kinds if kinds is not None else GROUPS:
        for name in registry(kind).names():
            yield kind, name


def small_config(kind: str, name: str,
                 configs: Mapping[tuple[str, str], SmallConfig] | None = None) -> ConfigLike:
    """The options ``check_component`` uses for ``(kind, name)``; None means the defaults."""
    found = (SMALL_CONFIGS if configs is None else configs).get((kind, name))
    if found is None:
        return None
    return found() if callable(found) else found


def check_component(kind: str, name: str, config: ConfigLike = None, *,
                    configs: Mapping[tuple[str, str], SmallConfig] | None = None,
                    sections: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Load the registered ``kind`` ``name`` and run the check of its kind on it.

    ``config`` defaults to ``small_config(kind, name, configs)``; ``configs`` (default
    ``SMALL_CONFIGS``) also gives a method's slot sections their small options. ``sections``
    (methods only) sets options of the method's slot sections, over ``METHOD_SECTIONS[name]``
    slot by slot, e.g. ``{"encoder": {"depth": 4}}``. Raises ``AssertionError`` naming the
    component when it does not load, does not build (the error is the cause) or does not
    conform.
    """
    try:
        cls = registry(kind).load(name)
    except RegistryError as exc:
        raise AssertionError(f"{kind} {name!r} does not load: {exc}") from None
    if sections is not None and kind != "method":
        raise ValueError(f"check_component({kind!r}, {name!r}, sections=...): only a method "
                         "has slot sections")
    if config is None:
        config = small_config(kind, name, configs)
    built(lambda: _dispatch(kind, name, cls, config, configs, sections), f"{kind} {name!r}",
          "its conformance check")


def _dispatch(kind: str, name: str, cls: type, config: ConfigLike,
              configs: Mapping[tuple[str, str], SmallConfig] | None,
              sections: Mapping[str, Mapping[str, Any]] | None) -> None:
    if kind == "encoder":
        patch = _patch_size(cls, config)
        img = ENCODER_IMG_SIZE if ENCODER_IMG_SIZE % patch == 0 else 4 * patch
        check_encoder(cls, config, img_size=img, name=name)
    elif kind == "predictor" and getattr(cls, "action_conditioned", False):
        check_action_predictor(cls, config, name=name)
    elif kind == "predictor":
        check_predictor(cls, config, name=name)
    elif kind == "masker":
        check_masker(cls, config, grid=MASKER_GRID, name=name)
    elif kind == "target_updater":
        check_target_updater(cls, config, name=name)
    elif kind == "loss":
        check_loss(cls, config, name=name)
    elif kind == "dataset":
        check_dataset(cls, config, name=name)
    elif kind == "method":
        merged = {slot: dict(options) for slot, options in METHOD_SECTIONS.get(name, {}).items()}
        for slot, options in (sections or {}).items():
            merged[slot] = {**merged.get(slot, {}), **options}
        check_method(cls, config, name=name, sections=merged, configs=configs)
    elif kind == "views":
        check_views(cls, config, name=name)
    elif kind == "projector":
        check_projector(cls, config, name=name)
    elif kind == "regularizer":
        check_regularizer(cls, config, name=name)
    elif kind == "eval_protocol":
        check_eval_protocol(cls, config, name=name)
    elif kind == "planner":
        check_planner(cls, config, name=name)
    elif kind == "logger":
        check_logger(cls, config, name=name)
    elif kind == "optimizer":
        check_optimizer(cls, config, name=name)
    elif kind == "schedule":
        check_schedule(cls, config, name=name)
    else:  # pragma: no cover - GROUPS and this dispatch change together
        raise AssertionError(f"no conformance check for kind {kind!r}")


def _patch_size(cls: type, config: ConfigLike) -> int:
    cfg = to_config(cls.Config, config)  # type: ignore[attr-defined]
    patch = cfg.resolved_patch_size()  # type: ignore[attr-defined]
    expect(isinstance(patch, int) and patch > 0,
           f"encoder {cls.__qualname__}: resolved_patch_size() returned {patch!r}")
    return int(patch)
