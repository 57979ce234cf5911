"""Rebuild the world model of an ``ac_jepa`` checkpoint, with its room and planner settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jepa_kit.errors import UserError
from jepa_kit.methods.ac_jepa.world_model import WorldModel


@dataclass
class LoadedWorldModel:
    """A checkpoint's world model, its validated recipe and training step."""

    model: WorldModel
    recipe: Any
    step: int


def load_world_model(path: str | Path, overrides: Iterable[str] = (),
                     random_init: bool = False) -> LoadedWorldModel:
    """The encoder and predictor of an ``ac_jepa`` checkpoint, in eval mode on the CPU.

    ``overrides`` (``dotted.key=value``) apply to its recipe first (e.g. ``planner.samples``
    or ``data.wall``); ``random_init`` keeps the run's initial weights (a baseline)."""
    from jepa_kit.build import build_method
    from jepa_kit.checkpoint import read_checkpoint
    from jepa_kit.eval.checkpoint_model import recipe_from_checkpoint

    source = str(path)
    record = read_checkpoint(Path(path), map_location="cpu")
    recipe = recipe_from_checkpoint(record, source, overrides)
    if recipe.method.kind != "ac_jepa":
        raise UserError(f"{source}: a {recipe.method.kind!r} checkpoint has no world model; "
                        f"plan needs one trained with method.kind = 'ac_jepa'")
    if recipe.data.kind != "trajectories":
        raise UserError(f"{source}: data.kind={recipe.data.kind!r}; plan runs episodes in the "
                        f"built-in room (data.kind = 'trajectories')")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.run.seed)  # the run's initial weights, as the trainer
        method = build_method(recipe)
    if not random_init:
        method.load_state_dict(record, source)
    model = WorldModel(method.networks["encoder"], method.networks["predictor"],
                       img_size=method.encoder_img_size, clip_frames=method.clip_frames,
                       normalize=recipe.method.normalize_reps, max_step=recipe.data.max_step)
    return LoadedWorldModel(model, recipe, record.step)
