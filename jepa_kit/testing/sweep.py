"""Sweeping the registry: every installed component through the check of its kind.

``conformance_cases()`` lists ``(kind, name)`` without importing anything, so a test module can
parametrize over it at collection time; ``check_component(kind, name)`` loads the component and
runs the check with a small config, so the whole sweep stays fast on a laptop CPU. Heavy
components get their small config from ``SMALL_CONFIGS`` (``jepa_kit.testing.small_configs``);
the rest are checked with their defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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
from jepa_kit.testing.small_configs import SMALL_CONFIGS as SMALL_CONFIGS  # re-exported
from jepa_kit.testing.small_configs import SmallConfig, small_config
from jepa_kit.testing.small_configs import tiny_image_folder as tiny_image_folder
from jepa_kit.testing.small_configs import tiny_shards as tiny_shards
from jepa_kit.testing.small_configs import tiny_video_folder as tiny_video_folder
from jepa_kit.testing.updaters import check_target_updater
from jepa_kit.testing.world_models import check_action_predictor, check_planner

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
