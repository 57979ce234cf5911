"""Assembly: turn a validated recipe into component instances.

Each component receives its own config and the runtime facts it needs as keyword arguments;
the recipe as a whole is never passed down.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from jepa_kit.config import ComponentConfig
from jepa_kit.data.base import Dataset
from jepa_kit.encoders.base import Encoder
from jepa_kit.losses.base import Loss
from jepa_kit.maskers.base import Masker
from jepa_kit.predictors.base import Predictor
from jepa_kit.registry import registry
from jepa_kit.target_updaters.base import TargetUpdater


def component_class(kind: str, config: ComponentConfig) -> type:
    return registry(kind).load(config.kind)


def build_encoder(config: ComponentConfig, *, img_size: int, in_chans: int = 3) -> Encoder:
    return component_class("encoder", config)(config, img_size=img_size, in_chans=in_chans)


def build_predictor(config: ComponentConfig, encoder: Encoder) -> Predictor:
    cls = component_class("predictor", config)
    return cls(config, grid=encoder.grid, embed_dim=encoder.embed_dim,
               encoder_heads=encoder.num_heads)


def build_masker(config: ComponentConfig, *, grid: tuple[int, int]) -> Masker:
    return component_class("masker", config)(config, grid=grid)


def build_target_updater(config: ComponentConfig, *, total_steps: float) -> TargetUpdater:
    return component_class("target_updater", config)(config, total_steps=total_steps)


def build_loss(config: ComponentConfig) -> Loss:
    return component_class("loss", config)(config)


def build_dataset(config: ComponentConfig, *, train: bool, seed: int) -> Dataset:
    return component_class("dataset", config)(config, train=train, seed=seed)


@dataclass
class Model:
    """The trainable networks of a JEPA: online encoder, its EMA target, the predictor."""

    encoder: Encoder
    target_encoder: Encoder
    predictor: Predictor


def build_model(recipe: Any) -> Model:
    """Encoder, a frozen copy as target encoder, and the predictor."""
    encoder = build_encoder(recipe.encoder, img_size=recipe.img_size)
    target = copy.deepcopy(encoder)
    for p in target.parameters():
        p.requires_grad_(False)
    predictor = build_predictor(recipe.predictor, encoder)
    return Model(encoder, target, predictor)
