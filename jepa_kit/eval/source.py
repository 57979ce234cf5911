"""The encoder under evaluation and its labelled data: a checkpoint's or an export's.

A checkpoint (``which`` picks one of its method's encoders, ``random_init`` its untrained
step-0 twin) or an exported encoder (a timm folder or a ``.safetensors`` file from
``jepa-kit export``). Data: the checkpoint recipe's ``data`` section unless ``data_dir`` (an
image folder: with ``train/`` and ``val/`` sub-folders they are the two splits, otherwise 20%
of every class is held out for val) or ``dataset`` (a registered dataset at the recipe's image
size) is given; ``data.*`` overrides adjust either.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jepa_kit.errors import UserError

#: Held-out share of each class when ``--data DIR`` has no train/ and val/ sub-folders.
VAL_FRACTION = 0.2


@dataclass
class Source:
    """The encoder under evaluation and what the report says about where it came from."""

    encoder: Any
    data: Any  # the resolved data config
    seed: int
    step: int  # the checkpoint's step (0 for an export)
    which: str  # the method's name for the encoder, or the export format
    default_which: bool
    origin: str  # "checkpoint" or the export format
    extra: dict[str, Any] = field(default_factory=dict)
    recipe: Any = None  # the checkpoint's validated recipe; None for an export


def data_section(raw: dict[str, Any], data_dir: Path | None, dataset: str | None
                 ) -> dict[str, Any]:
    """The recipe dict with its ``data`` section replaced as ``--data`` / ``--dataset`` ask."""
    if data_dir is not None and dataset is not None:
        raise UserError("give either --data DIR or --dataset NAME, not both")
    raw = copy.deepcopy(raw)
    old = raw.get("data") or {}
    kept = {k: old[k] for k in ("img_size", "num_workers") if k in old}
    if data_dir is not None:
        if not data_dir.is_dir():
            what = "is not a folder" if data_dir.exists() else "does not exist"
            raise UserError(f"--data {data_dir}: {what}")
        train, val = data_dir / "train", data_dir / "val"
        split = ({"root": str(train), "val_root": str(val)} if train.is_dir() and val.is_dir()
                 else {"root": str(data_dir), "val_fraction": VAL_FRACTION})
        raw["data"] = {"kind": "image_folder", **kept, **split}
    elif dataset is not None and old.get("kind", "synthetic") != dataset:
        raw["data"] = {"kind": dataset, **kept}
    return raw


def _exported_data(raw: dict[str, Any], overrides: list[str], source: str) -> Any:
    """The data config of an export's evaluation: ``raw["data"]`` after the ``data.*`` sets."""
    from pydantic import ValidationError

    from jepa_kit.recipe import apply_overrides
    from jepa_kit.registry import registry

    bad = [o for o in overrides if not o.strip().startswith("data.")]
    if bad:
        raise UserError(f"--set {bad[0]}: an exported encoder has no recipe; only data.* keys "
                        "can be set")
    section = apply_overrides(raw, overrides)["data"]
    try:
        return registry("dataset").load(section["kind"]).Config(**section)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "data." + ".".join(str(p) for p in first["loc"])
        raise UserError(f"{source}: {key}: {first['msg']}") from None


def load_source(checkpoint: Path, *, data_dir: Path | None = None, dataset: str | None = None,
                which: str | None = None, random_init: bool = False,
                overrides: list[str] | None = None) -> Source:
    """The encoder of a checkpoint (``which``, ``random_init``) or of an export, with data."""
    from jepa_kit.build import method_class
    from jepa_kit.checkpoint import load_checkpoint
    from jepa_kit.eval.checkpoint_model import build_from_state, recipe_from_checkpoint
    from jepa_kit.eval.exported import is_exported, load_exported

    overrides = overrides or []
    if is_exported(checkpoint):
        if random_init:
            raise UserError(f"--random-init: {checkpoint} is an exported encoder, without the "
                            "run that made its initial weights; evaluate the run's checkpoint")
        exported = load_exported(checkpoint)
        if which not in (None, exported.format):
            raise UserError(f"--which {which!r}: {checkpoint} holds one encoder")
        if data_dir is None and dataset is None:
            raise UserError(f"{checkpoint}: an exported encoder carries no dataset; give "
                            "--data DIR or --dataset NAME")
        raw = data_section({"data": {"kind": dataset or "synthetic",
                                     "img_size": exported.img_size}}, data_dir, dataset)
        data = _exported_data(raw, overrides, str(checkpoint))
        return Source(exported.encoder, data, 0, 0, exported.format, True, exported.format,
                      {"encoder": exported.encoder_config})
    state = load_checkpoint(checkpoint)
    raw = data_section(state["recipe"] if isinstance(state["recipe"], dict) else {},
                       data_dir, dataset)
    recipe = recipe_from_checkpoint({"recipe": raw}, str(checkpoint), overrides)
    encoder = build_from_state(state, recipe, which=which, random_init=random_init,
                               source=str(checkpoint))
    default = next(iter(method_class(recipe).eval_encoders))
    return Source(encoder.eval(), recipe.data, recipe.run.seed, int(state["step"]),
                  which or default, which in (None, default), "checkpoint",
                  {"method": recipe.method.kind}, recipe)
