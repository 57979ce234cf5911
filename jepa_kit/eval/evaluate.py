"""``jepa_kit.evaluate(checkpoint, protocol, ...)``: score a frozen encoder with one protocol.

The one call behind ``jepa-kit eval <protocol>``, ``compare --eval`` and sweeps. It loads the
encoder and data (``jepa_kit.eval.source``), extracts what the protocol reads (under
``torchrun`` every rank extracts its share, the shares are gathered and rank 0 scores), draws
the low-shot subset, runs the protocol (``jepa_kit.eval.protocols``) and writes the result
JSON, by default next to the run (``RUN_DIR/eval_knn.json`` for
``RUN_DIR/checkpoints/step_*.pt``).

Every score of a checkpoint carries its baseline: the same protocol on the run's random-init
encoder, cached per architecture, data and protocol settings (``jepa_kit.eval.baseline``),
with the gain and whether it is within noise; ``baseline=False`` skips it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jepa_kit import __version__
from jepa_kit.errors import UserError
from jepa_kit.eval.protocols.base import Inputs, Protocol, ProtocolConfig


@dataclass
class Evaluation:
    """What ``evaluate`` wrote: the result (as in the JSON) and where."""

    result: dict[str, Any]
    path: Path
    protocol: Protocol


def protocol_class(name: str) -> type[Protocol]:
    """The registered eval protocol ``name`` (``RegistryError`` naming the installed ones)."""
    from jepa_kit.registry import registry

    return registry("eval_protocol").load(name)  # type: ignore[return-value]


def build_protocol(protocol: str | ProtocolConfig | Protocol,
                   settings: Mapping[str, Any] | None = None) -> Protocol:
    """A protocol from its name and settings (its ``Config`` fields), a config or itself."""
    from pydantic import ValidationError

    if isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, ProtocolConfig):
        return protocol_class(protocol.kind)(protocol)
    cls = protocol_class(protocol)
    try:
        return cls(cls.Config(**dict(settings or {})))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        raise UserError(f"eval {protocol}: {problems} (its settings: "
                        f"{', '.join(f for f in cls.Config.model_fields if f != 'kind')})"
                        ) from None


def output_name(protocol: str, which: str | None, random_init: bool, *,
                tags: tuple[str, ...] = ()) -> str:
    """``eval_<protocol>[_<which>][_<tag>...][_random_init].json``; ``which`` is None for the
    method's default encoder, ``tags`` name non-default settings (features, low-shot, seed)."""
    parts = [f"eval_{protocol}", *([which] if which else []), *tags,
             *(["random_init"] if random_init else [])]
    return "_".join(parts) + ".json"


def default_output(checkpoint: Path, protocol: str, which: str | None, random_init: bool,
                   *, tags: tuple[str, ...] = ()) -> Path:
    """``RUN_DIR/<output_name>`` for a checkpoint in ``RUN_DIR/checkpoints``, else
    ``<checkpoint stem>_<output_name>`` beside the checkpoint (or export)."""
    name = output_name(protocol, which, random_init, tags=tags)
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent / name
    return checkpoint.with_name(f"{checkpoint.stem}_{name}")


def _tags(features: str, augment: str, per_class: int | None, fraction: float | None,
          seed: int) -> tuple[str, ...]:
    tags = [t for t in (features if features != "avg" else "",
                        augment if augment != "none" else "") if t]
    tags += [f"{per_class}perclass"] if per_class is not None else []
    tags += [f"{fraction:g}frac"] if fraction is not None else []
    return (*tags, *([f"seed{seed}"] if seed else []))


def _check(proto: Protocol, device: str, features: str, augment: str,
           per_class: int | None, fraction: float | None) -> str:
    """Refuse settings the protocol cannot take; the pooling its extraction uses."""
    from jepa_kit.eval.features import last_blocks

    name = proto.config.kind
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device {device!r}: expected auto, cpu or cuda")
    from jepa_kit.eval.augmented import augmentations

    if augment != "none" and augment not in augmentations():  # each method's eval defaults
        raise UserError(f"--augment {augment!r}: expected none, "
                        f"{', '.join(augmentations()) or '(no method declares one)'}")
    if augment != "none" and not proto.fits:
        raise UserError(f"--augment {augment}: the {name} protocol trains nothing to augment")
    if proto.reads != "pooled" and features != "avg":
        raise UserError(f"--features {features}: the {name} protocol reads {proto.reads}")
    if features == "tokens":
        raise UserError("--features tokens: pooled features are avg or lastK")
    last_blocks(features)
    if per_class is not None and fraction is not None:
        raise UserError("give either --per-class N or --fraction F, not both")
    if proto.reads == "images" and (per_class is not None or fraction is not None):
        raise UserError(f"--per-class/--fraction: the {name} protocol reads the images "
                        "itself and draws no low-shot subset")
    return {"pooled": features, "tokens": "tokens", "images": "images"}[proto.reads]


def evaluate(
    checkpoint: str | Path,
    protocol: str | ProtocolConfig | Protocol = "knn",
    *,
    settings: Mapping[str, Any] | None = None,
    data_dir: Path | None = None,
    dataset: str | None = None,
    which: str | None = None,
    random_init: bool = False,
    overrides: list[str] | None = None,
    out_path: Path | None = None,
    batch_size: int = 128,
    device: str = "auto",
    bf16: bool = False,
    features: str = "avg",
    augment: str = "none",
    per_class: int | None = None,
    fraction: float | None = None,
    seed: int = 0,
    baseline: bool = True,
) -> Evaluation | None:
    """Score ``checkpoint`` (a jepa-kit checkpoint or an export) with ``protocol`` (a
    registered name with ``settings``, or a config); write the result JSON and return it
    (None on ranks other than 0 of a torchrun job).

    With ``baseline`` the run's random-init encoder is scored with the same protocol and data
    (or its score read from the cache) and the result gets ``baseline`` and ``gain``; a
    ``random_init`` evaluation stores its score in that cache.
    """
    import torch

    from jepa_kit.eval.baseline import BaselineCache
    from jepa_kit.eval.features import FeatureExtractor, build_eval_splits
    from jepa_kit.eval.lowshot import describe_subset, low_shot
    from jepa_kit.eval.source import load_source
    from jepa_kit.train.distributed import init_distributed, shutdown
    from jepa_kit.train.trainer import resolve_device

    checkpoint = Path(checkpoint)
    proto = build_protocol(protocol, settings)
    name = proto.config.kind
    pool = _check(proto, device, features, augment, per_class, fraction)
    tic = time.perf_counter()
    dev = resolve_device(device)
    info = init_distributed(dev.type)
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    precision = "bf16" if bf16 else "fp32"
    key: dict[str, Any] | None = None
    cache = BaselineCache.default()
    base: dict[str, Any] | None = None
    cached = False
    load = dict(data_dir=data_dir, dataset=dataset, which=which, overrides=overrides)
    try:
        src = load_source(checkpoint, random_init=random_init, **load)  # type: ignore[arg-type]
        splits = build_eval_splits(src.data, seed=src.seed)
        num_classes = len(splits.train.classes)
        extract = None if pool == "images" else FeatureExtractor(
            splits, dev, batch_size=batch_size, precision=precision, pool=pool,
            rank=info.rank, world_size=info.world_size)

        def score(encoder: Any) -> tuple[dict[str, Any], Any, Any] | None:
            """(metrics, low-shot subset, train labels) on rank 0; every rank must call it."""
            encoder = encoder.to(dev)
            feats = None if extract is None else extract(encoder)
            if not info.is_main:
                return None
            train = val = subset = y = None
            if feats is not None:
                train, val = ((t.to(dev) for t in feats[s]) for s in ("train", "val"))
                train, val = tuple(train), tuple(val)
                y = train[1]
                subset = low_shot(y, per_class=per_class, fraction=fraction, seed=seed)
            inputs = Inputs(train, val, num_classes, subset, encoder, splits, dev,  # type: ignore[arg-type]
                            precision=precision, seed=seed, features=features, augment=augment)
            return proto.run(inputs).metrics(), subset, y

        if baseline and src.recipe is not None:  # an export has no initial weights to score
            key = _baseline_key(src, splits, proto, pool=pool, augment=augment,
                                per_class=per_class, fraction=fraction, seed=seed,
                                precision=precision, device=dev)
            if not random_init:
                # Rank 0's answer for every rank: all of them extract, or none does.
                base = _from_rank0(cache.load(key) if info.is_main else None, info)
                cached = base is not None
        scored = score(src.encoder)
        if key is not None and not random_init and base is None:
            init = load_source(checkpoint, random_init=True, **load)  # type: ignore[arg-type]
            base_scored = score(init.encoder)
            base = None if base_scored is None else base_scored[0]
    finally:
        shutdown(info)
    if scored is None:
        return None
    metrics, subset, y = scored
    result = {
        "protocol": name, "checkpoint": str(checkpoint.resolve()), "source": src.origin,
        "step": 0 if random_init else src.step, "checkpoint_step": src.step,
        "which": src.which, "random_init": random_init, **src.extra,
        "features": pool, "augment": augment,
        "subset": None if subset is None else describe_subset(
            subset, y, per_class=per_class, fraction=fraction, seed=seed),
        "dataset": src.data.model_dump(mode="json"), "classes": list(splits.train.classes),
        "metrics": metrics, "device": str(dev), "precision": precision,
        "world_size": info.world_size, "seconds": round(time.perf_counter() - tic, 2),
        "jepa_kit": __version__,
    }
    if key is not None:
        if random_init or not cached:
            cache.store(key, metrics if random_init else base,  # type: ignore[arg-type]
                        checkpoint=str(checkpoint.resolve()))
        result["baseline_cache"] = str(cache.path(key))
    if base is not None:
        result["baseline"] = {"metrics": base, "cached": cached}
        result["gain"] = gain(result).as_json()
    # A protocol that fits nothing uses the seed only for the low-shot draw: no file of its own.
    tags = _tags(features, augment, per_class, fraction, seed if proto.fits else 0)
    target = out_path or default_output(checkpoint, name,
                                        None if src.default_which else src.which, random_init,
                                        tags=tags)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    if checkpoint.parent.name == "checkpoints" and not random_init:  # to the run's trackers
        from jepa_kit.loggers.attach import evaluation_row, log_to_run

        log_to_run(checkpoint.parent.parent, step=src.step, metrics=evaluation_row(name, result))
    return Evaluation(result, target, proto)


def _baseline_key(src: Any, splits: Any, proto: Protocol, *, pool: str, augment: str,
                  per_class: int | None, fraction: float | None, seed: int, precision: str,
                  device: Any) -> dict[str, Any]:
    """Everything the random-init score depends on (``jepa_kit.eval.baseline``)."""
    from jepa_kit.eval.baseline import architecture

    data = {"config": src.data.model_dump(mode="json"), "num_train": len(splits.train),
            "num_val": len(splits.val), "classes": list(splits.train.classes)}
    settings = proto.config.model_dump(mode="json", exclude={"kind"})
    evaluation = {"protocol": proto.config.kind, "settings": settings, "features": pool,
                  "augment": augment, "per_class": per_class, "fraction": fraction,
                  "seed": seed, "precision": precision, "device": device.type}
    return {"architecture": architecture(src.recipe, src.which), "data": data,
            "evaluation": evaluation}


def _from_rank0(value: Any, info: Any) -> Any:
    """``value`` as rank 0 has it, on every rank of a torchrun job."""
    if info.world_size == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gain(result: dict[str, Any]) -> Any:
    """The ``Gain`` of a result that holds a baseline (``jepa_kit.eval.baseline``)."""
    from jepa_kit.eval.baseline import Gain

    m = result["metrics"]
    return Gain(float(m["top1"]), float(result["baseline"]["metrics"]["top1"]),
                int(m["num_val"]))
