"""Rebuild an encoder from a jepa-kit checkpoint, trained or as its untrained baseline.

A checkpoint's record (``jepa_kit.checkpoint``) carries the resolved recipe next to the
weights, so the architecture never has to be guessed: the recipe is validated again (defaults
fill in whatever a partial recipe leaves out, as in an imported reference checkpoint, whose
recipe holds only ``encoder``, ``predictor`` and ``data.img_size``), the encoder is built from
it, and the weights load with ``strict=True``.

The encoder is one of the method's networks, chosen by ``which`` (the method's
``eval_encoders``; I-JEPA: ``target`` or ``context``; None: the method's default).
``random_init=True`` builds it with the weights the run started from: the trainer seeds the
global RNG with ``run.seed`` and then builds the method, and so does this, so the baseline is
the run's own step-0 network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jepa_kit.build import build_method, method_class
from jepa_kit.checkpoint import CheckpointRecord, read_checkpoint
from jepa_kit.encoders.base import Encoder
from jepa_kit.errors import UserError
from jepa_kit.recipe import RecipeBase, RecipeError, apply_overrides, validate_recipe


@dataclass
class LoadedEncoder:
    """An encoder rebuilt from a checkpoint, with what a report needs to say where it came from."""

    encoder: Encoder
    recipe: RecipeBase
    path: Path
    step: int
    which: str
    random_init: bool


def recipe_from_checkpoint(state: CheckpointRecord | Mapping[str, Any], source: str,
                           overrides: Iterable[str] = ()) -> Any:
    """Validate a checkpoint's recipe, after applying ``--set`` style ``overrides``.

    ``state`` is the checkpoint's record, or (for callers that edit the recipe first) a
    mapping with the recipe under ``"recipe"``."""
    raw = state.recipe if isinstance(state, CheckpointRecord) else state.get("recipe")
    if not isinstance(raw, dict):
        raise UserError(f"{source}: the checkpoint's recipe is not a table (got "
                        f"{type(raw).__name__})")
    method = raw.get("method")
    if isinstance(state, CheckpointRecord) and (method is None or (
            isinstance(method, dict) and "kind" not in method)):
        # Recipes saved before methods were plug-ins name none: the record does.
        raw = {**raw, "method": {**(method or {}), "kind": state.method}}
    try:
        return validate_recipe(apply_overrides(raw, overrides), source)
    except RecipeError as exc:
        about_masker = all(key.startswith("masker") or msg.startswith("masker.")
                           for key, msg in exc.problems)
        if "masker" in raw or not about_masker:
            raise
        # A partial recipe (an imported reference checkpoint) gets the default masker, which
        # may not fit a small patch grid; evaluation never samples masks, so say that.
        raise RecipeError(source, [*exc.problems, (
            "", "the checkpoint's recipe names no masker and the default one does not fit its "
            "patch grid; evaluation does not use the masker, so the --set masker.KEY=VALUE "
            "suggested above is safe")]) from None


def encoder_key(recipe: RecipeBase, which: str | None) -> str:
    """The checkpoint key (network name) of ``which`` encoder of ``recipe``'s method."""
    return method_class(recipe).encoder_for(which)


def build_from_state(state: CheckpointRecord | Mapping[str, Any], recipe: RecipeBase, *,
                     which: str | None = None, random_init: bool = False,
                     source: str = "<checkpoint>") -> Encoder:
    """The ``which`` encoder of ``recipe``'s method, holding the checkpoint's weights or the
    run's initial ones (``random_init``). The global RNG is left as it was."""
    key = encoder_key(recipe, which)
    with torch.random.fork_rng(devices=[]):
        # Same seed and build order as the trainer: the baseline is the run's step-0 network.
        torch.manual_seed(recipe.run.seed)
        encoder = build_method(recipe).networks[key]
    if random_init:
        return encoder  # type: ignore[return-value]
    # A mapping is a checkpoint's payload (callers written before the record existed).
    weights = state.networks.get(key) if isinstance(state, CheckpointRecord) else state.get(key)
    if not isinstance(weights, dict):
        raise UserError(f"{source}: the checkpoint has no {key!r} weights")
    try:
        encoder.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).split("\n")[0]
        detail = "; ".join(line.strip() for line in str(exc).split("\n")[1:3] if line.strip())
        raise UserError(
            f"{source}: the {key} weights do not fit the recipe's encoder "
            f"({recipe.encoder.kind}): {first} {detail}".rstrip()
        ) from None
    return encoder  # type: ignore[return-value]


def load_encoder_from_checkpoint(
    checkpoint_path: str | Path,
    which: str | None = None,
    *,
    random_init: bool = False,
    overrides: Iterable[str] = (),
) -> LoadedEncoder:
    """Read ``checkpoint_path`` and rebuild its ``which`` encoder (eval mode, on the CPU).

    ``overrides`` are ``dotted.key=value`` strings applied to the checkpoint's recipe before it
    is validated (e.g. a different ``data`` section for evaluation).
    """
    path = Path(checkpoint_path)
    record = read_checkpoint(path, map_location="cpu")
    recipe = recipe_from_checkpoint(record, str(path), overrides)
    encoder = build_from_state(record, recipe, which=which, random_init=random_init,
                               source=str(path))
    encoder.eval()
    which = which or next(iter(method_class(recipe).eval_encoders))
    return LoadedEncoder(encoder, recipe, path, record.step, which, random_init)


def load_encoder(checkpoint_path: str | Path, which: str | None = None, *,
                 random_init: bool = False) -> tuple[Encoder, Any]:
    """``(encoder, recipe)`` rebuilt from a checkpoint; see ``load_encoder_from_checkpoint``."""
    loaded = load_encoder_from_checkpoint(checkpoint_path, which, random_init=random_init)
    return loaded.encoder, loaded.recipe
