"""``eval knn``, ``eval linear`` and ``eval attentive``: score a frozen encoder on labelled images.

The encoder: a jepa-kit checkpoint (``--which`` picks one of its method's encoders,
``--random-init`` its untrained step-0 twin), or an exported encoder (a timm folder or a
``.safetensors`` file from ``jepa-kit export``). Data: the checkpoint recipe's ``data``
section unless ``--data DIR`` (an image folder: ``DIR`` with ``train/`` and ``val/``
sub-folders uses them as the two splits, any other ``DIR`` holds out 20% of every class for
val) or ``--dataset NAME`` (a registered dataset, e.g. ``synthetic``, at the recipe's image
size) is given; ``--set data.key=value`` adjusts either. The result is printed as a table and
written as JSON, by default next to the run (``RUN_DIR/eval_knn.json`` for
``RUN_DIR/checkpoints/step_*.pt``).

Every score of a checkpoint carries its baseline: the same protocol on the run's random-init
encoder (``--random-init``'s network), cached per architecture, data and protocol
(``jepa_kit.eval.baseline``), printed and written beside the score with the gain and whether
the gain is within noise; ``--no-baseline`` skips it.

Under ``torchrun`` every rank extracts its share of the features (``FeatureExtractor``), the
shares are gathered, and rank 0 fits the probe and writes the result.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit import __version__
from jepa_kit.cli.options import SetOption
from jepa_kit.errors import UserError

out = Console(highlight=False, soft_wrap=True)
eval_app = typer.Typer(name="eval", no_args_is_help=True,
                       help="Evaluate a checkpoint's frozen encoder: kNN, linear or attentive "
                       "probes.")

#: Held-out share of each class when ``--data DIR`` has no train/ and val/ sub-folders.
VAL_FRACTION = 0.2

CheckpointArg = typer.Argument(..., help="A jepa-kit checkpoint (.pt), e.g. "
                               "runs/NAME/checkpoints/step_00000160.pt, or an exported encoder "
                               "(a `jepa-kit export --format timm` folder or a "
                               "`--format safetensors` file).")
DataOption = typer.Option(None, "--data", help="Image folder to evaluate on (class sub-folders; "
                          "train/ and val/ sub-folders are used as splits when both exist).")
DatasetOption = typer.Option(None, "--dataset",
                             help="A registered dataset, e.g. synthetic, at the recipe's size.")
WhichOption = typer.Option(None, "--which", help="Which of the method's encoders (I-JEPA: "
                           "target, as the paper, or context; LeJEPA: encoder); default: the "
                           "method's.")
RandomInitOption = typer.Option(False, "--random-init",
                                help="Evaluate the run's untrained step-0 encoder (baseline).")
NoBaselineOption = typer.Option(False, "--no-baseline",
                                help="Skip the random-init baseline (by default it is scored "
                                "too, or read from its cache, and the gain is reported).")
OutOption = typer.Option(None, "--out", help="JSON result file (default: next to the run).")
BatchOption = typer.Option(128, "--batch-size", min=1, help="Images per forward pass.")
DeviceOption = typer.Option("auto", "--device", help="auto, cpu or cuda.")
Bf16Option = typer.Option(False, "--bf16", help="Run the encoder under bf16 autocast.")
FeaturesOption = typer.Option("avg", "--features", help="avg: average-pooled last layer; "
                              "last4 (any lastK): the average pools of the last 4 blocks, "
                              "concatenated (I-JEPA's two linear protocols).")
PerClassOption = typer.Option(None, "--per-class", min=1,
                              help="Low-shot: train the probe on N images of every class.")
FractionOption = typer.Option(None, "--fraction", min=0.0, max=1.0,
                              help="Low-shot: train on this share of every class (0.01: 1%).")
SeedOption = typer.Option(0, "--seed", min=0,
                          help="Seed of the low-shot subset, hold-out, head init and order.")


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
    from jepa_kit.eval.checkpoint_model import build_from_state, recipe_from_checkpoint
    from jepa_kit.eval.exported import is_exported, load_exported
    from jepa_kit.rundir.checkpoint import load_checkpoint

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


def _lowshot_tags(per_class: int | None, fraction: float | None, seed: int) -> tuple[str, ...]:
    tags = [f"{per_class}perclass"] if per_class is not None else []
    tags += [f"{fraction:g}frac"] if fraction is not None else []
    return (*tags, *([f"seed{seed}"] if seed else []))


def evaluate_checkpoint(
    protocol: str,
    checkpoint: Path,
    *,
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
    settings: dict[str, Any] | None = None,
    baseline: bool = True,
    quiet: bool = False,
) -> dict[str, Any] | None:
    """Score ``checkpoint`` with ``protocol`` (knn, linear, attentive); write and return the
    result (None on ranks other than 0 of a torchrun job).

    With ``baseline`` the run's random-init encoder is scored with the same protocol and data
    (or its score read from the cache, ``jepa_kit.eval.baseline``) and the result gets
    ``baseline`` and ``gain``; a ``random_init`` evaluation stores its score in that cache.
    """
    import torch

    from jepa_kit.eval.baseline import BaselineCache
    from jepa_kit.eval.features import FeatureExtractor, build_eval_splits, last_blocks
    from jepa_kit.eval.lowshot import describe_subset, low_shot
    from jepa_kit.train.distributed import init_distributed, shutdown
    from jepa_kit.train.trainer import resolve_device

    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter(f"expected auto, cpu or cuda, got {device!r}",
                                 param_hint="--device")
    if augment not in ("none", "ijepa", "vjepa"):
        raise typer.BadParameter(f"expected none, ijepa or vjepa, got {augment!r}",
                                 param_hint="--augment")
    if protocol == "attentive" and features != "avg":
        raise typer.BadParameter("the attentive probe reads the last layer's tokens",
                                 param_hint="--features")
    if features == "tokens":
        raise typer.BadParameter("kNN and linear probes read pooled features: avg or lastK",
                                 param_hint="--features")
    last_blocks(features)
    if per_class is not None and fraction is not None:
        raise UserError("give either --per-class N or --fraction F, not both")
    tic = time.perf_counter()
    dev = resolve_device(device)
    info = init_distributed(dev.type)
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    settings = dict(settings or {})
    precision = "bf16" if bf16 else "fp32"
    pool = "tokens" if protocol == "attentive" else features
    key: dict[str, Any] | None = None
    cache = BaselineCache.default()
    base: dict[str, Any] | None = None
    cached = False
    try:
        src = load_source(checkpoint, data_dir=data_dir, dataset=dataset, which=which,
                          random_init=random_init, overrides=overrides)
        splits = build_eval_splits(src.data, seed=src.seed)
        num_classes = len(splits.train.classes)
        extract = FeatureExtractor(splits, dev, batch_size=batch_size, precision=precision,
                                   pool=pool, rank=info.rank, world_size=info.world_size)

        def score(encoder: Any) -> tuple[dict[str, Any], Any, Any] | None:
            """(metrics, low-shot subset, train labels) on rank 0; every rank must call it."""
            encoder = encoder.to(dev)
            feats = extract(encoder)
            if not info.is_main:
                return None
            (x, y), (vx, vy) = ((t.to(dev) for t in feats[s]) for s in ("train", "val"))
            subset = low_shot(y, per_class=per_class, fraction=fraction, seed=seed)
            run = dict(encoder=encoder, splits=splits, device=dev, precision=precision,
                       batch_size=batch_size, features=features, augment=augment, seed=seed)
            return _run_protocol(protocol, (x, y), (vx, vy), subset, num_classes,
                                 dict(settings), run), subset, y

        if baseline and src.recipe is not None:  # an export has no initial weights to score
            key = _baseline_key(src, splits, protocol=protocol, settings=settings, pool=pool,
                                augment=augment, per_class=per_class, fraction=fraction,
                                seed=seed, precision=precision, device=dev)
            if not random_init:
                # Rank 0's answer for every rank: all of them extract, or none does.
                base = _from_rank0(cache.load(key) if info.is_main else None, info)
                cached = base is not None
        scored = score(src.encoder)
        if key is not None and not random_init and base is None:
            init = load_source(checkpoint, data_dir=data_dir, dataset=dataset, which=which,
                               random_init=True, overrides=overrides)
            base_scored = score(init.encoder)
            base = None if base_scored is None else base_scored[0]
    finally:
        shutdown(info)
    if scored is None:
        return None
    metrics, subset, y = scored
    result = {
        "protocol": protocol, "checkpoint": str(checkpoint.resolve()), "source": src.origin,
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
        result["gain"] = _gain(result).as_json()
    tags = tuple(t for t in (features if features != "avg" else "",
                             augment if augment != "none" else "") if t)
    tags += _lowshot_tags(per_class, fraction, seed if protocol != "knn" else 0)
    target = out_path or default_output(checkpoint, protocol,
                                        None if src.default_which else src.which, random_init,
                                        tags=tags)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    if not quiet:
        _print(result, target, baseline=baseline)
    return result


def _baseline_key(src: Source, splits: Any, *, protocol: str, settings: dict[str, Any],
                  pool: str, augment: str, per_class: int | None, fraction: float | None,
                  seed: int, precision: str, device: Any) -> dict[str, Any]:
    """Everything the random-init score depends on (``jepa_kit.eval.baseline``)."""
    from jepa_kit.eval.baseline import architecture

    data = {"config": src.data.model_dump(mode="json"), "num_train": len(splits.train),
            "num_val": len(splits.val), "classes": list(splits.train.classes)}
    evaluation = {"protocol": protocol, "settings": settings, "features": pool,
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


def _gain(result: dict[str, Any]) -> Any:
    from jepa_kit.eval.baseline import Gain

    m = result["metrics"]
    return Gain(float(m["top1"]), float(result["baseline"]["metrics"]["top1"]),
                int(m["num_val"]))


def _run_protocol(protocol: str, train: tuple[Any, Any], val: tuple[Any, Any], subset: Any,
                  num_classes: int, settings: dict[str, Any], run: dict[str, Any]
                  ) -> dict[str, Any]:
    from jepa_kit.eval.augmented import augmented_batches

    x, y = train
    if protocol == "knn":
        from jepa_kit.eval.knn import knn_eval

        if subset is not None:
            x, y = x[subset.to(x.device)], y[subset.to(y.device)]
        return knn_eval(x, y, *val, num_classes=num_classes, **settings)
    batches = None
    if run["augment"] != "none":
        batches = augmented_batches(
            run["encoder"], run["splits"].train, augment=run["augment"],
            img_size=run["splits"].config.img_size,
            pool="tokens" if protocol == "attentive" else run["features"],
            device=run["device"], batch_size=settings["batch_size"] or 256, seed=run["seed"],
            precision=run["precision"])
    if protocol == "linear":
        from jepa_kit.eval.linear import augmented_linear_probe, linear_probe

        if batches is None:
            if subset is not None:
                x, y = x[subset.to(x.device)], y[subset.to(y.device)]
            return linear_probe(x, y, *val, num_classes=num_classes, seed=run["seed"],
                                **settings)
        settings["batch_size"] = settings["batch_size"] or 256
        return augmented_linear_probe(batches, x, y, *val, num_classes=num_classes,
                                      train_indices=subset, seed=run["seed"], **settings)
    from jepa_kit.eval.attentive import attentive_probe
    from jepa_kit.eval.probe import ProbeOptim

    optim = ProbeOptim(**settings.pop("optim"))
    heads = settings.pop("num_heads") or run["encoder"].num_heads
    return attentive_probe(x, y, *val, num_heads=heads, num_classes=num_classes, optim=optim,
                           train_indices=subset, seed=run["seed"], batches=batches, **settings)


def _print(result: dict[str, Any], target: Path, *, baseline: bool = True) -> None:
    m = result["metrics"]
    base = result.get("baseline")
    weights = "random init (step 0)" if result["random_init"] else f"step {result['step']}"
    if result["protocol"] == "knn":
        title = f"kNN (k={m['k']}, T={m['temperature']})"
    elif result["protocol"] == "linear":
        title = f"linear probe ({result['features']}, {m['epochs']} epochs)"
    else:
        title = (f"attentive probe ({m['num_queries']} query, {m['optim']['epochs']} epochs, "
                 f"batch {m['optim']['batch_size']})")
    if result["augment"] != "none":
        title += f", {result['augment']} augmentation"
    table = Table(title=f"{title}: {result['which']} encoder, {weights}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("top-1", f"{100 * m['top1']:.2f}%")
    if base is not None:
        gain = _gain(result)
        table.add_row("random-init top-1", f"{100 * base['metrics']['top1']:.2f}%")
        table.add_row("gain (top-1)", f"{100 * gain.top1:+.2f} points "
                      f"(s.e. {100 * gain.standard_error:.2f})")
    if "top5" in m:
        table.add_row("top-5", f"{100 * m['top5']:.2f}%")
        if base is not None and "top5" in base["metrics"]:
            table.add_row("random-init top-5", f"{100 * base['metrics']['top5']:.2f}%")
    if result["protocol"] != "knn":
        table.add_row("chosen lr / wd", f"{m['lr']:g} / {m['weight_decay']:g}")
        if "holdout_top1" in m:
            table.add_row("hold-out top-1", f"{100 * m['holdout_top1']:.2f}%")
    if result["subset"] is not None:
        s = result["subset"]
        table.add_row("low-shot subset", f"{s['num_images']} images (seed {s['seed']})")
    data = result["dataset"]
    table.add_row("data", str(data.get("root", data["kind"])))
    table.add_row("train / val images", f"{m['num_train']} / {m['num_val']}")
    table.add_row("classes", str(m["num_classes"]))
    out.print(table)
    if base is not None:
        out.print(_gain(result).sentence())
        how = "read from" if base["cached"] else "computed and stored in"
        out.print(f"random-init baseline {how} {result['baseline_cache']}")
    elif result["random_init"] and "baseline_cache" in result:
        out.print(f"stored as the random-init baseline of later evaluations: "
                  f"{result['baseline_cache']}")
    elif baseline and not result["random_init"] and result["source"] != "checkpoint":
        out.print(f"no random-init baseline: a {result['source']} export carries no initial "
                  "weights; evaluate the run's checkpoint for one")
    out.print(f"wrote {target}")


def _floats(values: list[float] | None, default: tuple[float, ...], hint: str) -> tuple[float, ...]:
    values = tuple(values or default)
    if any(not v >= 0 for v in values):
        raise typer.BadParameter(f"expected values >= 0, got {values}", param_hint=hint)
    return values


@eval_app.command()
def knn(
    checkpoint: Path = CheckpointArg,
    data_dir: Path | None = DataOption,
    dataset: str | None = DatasetOption,
    which: str = WhichOption,
    random_init: bool = RandomInitOption,
    no_baseline: bool = NoBaselineOption,
    k: int = typer.Option(20, "--k", min=1, help="Neighbours in the vote."),
    temperature: float = typer.Option(0.07, "--temperature", min=1e-6,
                                      help="Vote weight exp(similarity / T)."),
    features: str = FeaturesOption,
    per_class: int | None = PerClassOption,
    fraction: float | None = FractionOption,
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the low-shot subset."),
    out_path: Path | None = OutOption,
    overrides: list[str] = SetOption,
    batch_size: int = BatchOption,
    device: str = DeviceOption,
    bf16: bool = Bf16Option,
) -> None:
    """Weighted kNN accuracy (cosine similarity, votes exp(s/T)) on average-pooled tokens."""
    evaluate_checkpoint("knn", checkpoint, data_dir=data_dir, dataset=dataset, which=which,
                        random_init=random_init, overrides=overrides or [], out_path=out_path,
                        batch_size=batch_size, device=device, bf16=bf16, features=features,
                        per_class=per_class, fraction=fraction, seed=seed,
                        settings={"k": k, "temperature": temperature},
                        baseline=not no_baseline)


@eval_app.command()
def linear(
    checkpoint: Path = CheckpointArg,
    data_dir: Path | None = DataOption,
    dataset: str | None = DatasetOption,
    which: str = WhichOption,
    random_init: bool = RandomInitOption,
    no_baseline: bool = NoBaselineOption,
    features: str = FeaturesOption,
    augment: str = typer.Option("none", "--augment", help="none: cached eval-view features; "
                                "ijepa: features of augmented train images on the fly "
                                "(RandomResizedCrop + flip, I-JEPA's linear protocol); vjepa: "
                                "V-JEPA's AutoAugment + random erasing."),
    epochs: int = typer.Option(100, "--epochs", min=1, help="Epochs per grid point."),
    probe_batch: int | None = typer.Option(None, "--probe-batch-size", min=1,
                                           help="Mini-batch of the probe (default: full batch "
                                           "on cached features, 256 with --augment)."),
    lrs: list[float] = typer.Option(None, "--lr", help="Learning rates of the grid (repeat; "
                                    "default 1e-3, 1e-2, 1e-1)."),
    wds: list[float] = typer.Option(None, "--wd", help="Weight decays of the grid (repeat; "
                                    "default 0, 1e-4, 1e-2)."),
    per_class: int | None = PerClassOption,
    fraction: float | None = FractionOption,
    seed: int = SeedOption,
    out_path: Path | None = OutOption,
    overrides: list[str] = SetOption,
    batch_size: int = BatchOption,
    device: str = DeviceOption,
    bf16: bool = Bf16Option,
) -> None:
    """Linear probe (I-JEPA's protocols); lr x weight-decay chosen on a train hold-out."""
    from jepa_kit.eval.linear import DEFAULT_LRS, DEFAULT_WEIGHT_DECAYS

    settings = {"epochs": epochs, "batch_size": probe_batch,
                "lrs": _floats(lrs, DEFAULT_LRS, "--lr"),
                "weight_decays": _floats(wds, DEFAULT_WEIGHT_DECAYS, "--wd")}
    evaluate_checkpoint("linear", checkpoint, data_dir=data_dir, dataset=dataset, which=which,
                        random_init=random_init, overrides=overrides or [], out_path=out_path,
                        batch_size=batch_size, device=device, bf16=bf16, features=features,
                        augment=augment, per_class=per_class, fraction=fraction, seed=seed,
                        settings=settings, baseline=not no_baseline)


def attentive_settings(*, epochs: int = 20, probe_batch: int = 1024,
                       lrs: tuple[float, ...] = (1e-3,), wds: tuple[float, ...] = (1e-3,),
                       warmup_epochs: float = 0.0, final_wd: float = 1e-6,
                       grad_clip: float = 1.0, num_queries: int = 1, depth: int = 1,
                       num_heads: int | None = None) -> dict[str, Any]:
    """``evaluate_checkpoint`` settings of the attentive probe; defaults: V-JEPA's (ImageNet)."""
    return {"optim": {"epochs": epochs, "batch_size": probe_batch, "warmup_epochs": warmup_epochs,
                      "final_weight_decay": final_wd, "grad_clip": grad_clip or None},
            "lrs": lrs, "weight_decays": wds, "num_queries": num_queries, "depth": depth,
            "num_heads": num_heads}


@eval_app.command()
def attentive(
    checkpoint: Path = CheckpointArg,
    data_dir: Path | None = DataOption,
    dataset: str | None = DatasetOption,
    which: str = WhichOption,
    random_init: bool = RandomInitOption,
    no_baseline: bool = NoBaselineOption,
    augment: str = typer.Option("none", "--augment", help="none: cached eval-view tokens; "
                                "vjepa: tokens of augmented train images on the fly, as the "
                                "paper (AutoAugment + random erasing); ijepa: crop + flip."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Training epochs (paper: 20)."),
    probe_batch: int = typer.Option(1024, "--probe-batch-size", min=1,
                                    help="Mini-batch of the probe (paper: 16 x 64 GPUs)."),
    lrs: list[float] = typer.Option(None, "--lr", help="Learning rate (paper: 1e-3); repeat "
                                    "for a grid chosen on a train hold-out."),
    wds: list[float] = typer.Option(None, "--wd", help="Weight decay, cosine-decayed to "
                                    "--final-wd (paper: 1e-3); repeat for a grid."),
    warmup_epochs: float = typer.Option(0.0, "--warmup-epochs", min=0.0,
                                        help="Linear lr warm-up (paper: none)."),
    final_wd: float = typer.Option(1e-6, "--final-wd", min=0.0, help="Weight decay at the end."),
    grad_clip: float = typer.Option(1.0, "--grad-clip", min=0.0,
                                    help="Gradient-norm clip (paper: 1.0; 0: none)."),
    num_queries: int = typer.Option(1, "--queries", min=1, help="Learnable query tokens."),
    depth: int = typer.Option(1, "--depth", min=1, help="Pooler blocks: 1 cross-attention "
                              "block, plus depth-1 self-attention blocks over the queries."),
    num_heads: int | None = typer.Option(None, "--heads", min=1,
                                         help="Attention heads (default: the encoder's)."),
    per_class: int | None = PerClassOption,
    fraction: float | None = FractionOption,
    seed: int = SeedOption,
    out_path: Path | None = OutOption,
    overrides: list[str] = SetOption,
    batch_size: int = BatchOption,
    device: str = DeviceOption,
    bf16: bool = Bf16Option,
) -> None:
    """Attentive probe (V-JEPA): learnable queries cross-attend to the frozen tokens."""
    settings = attentive_settings(
        epochs=epochs, probe_batch=probe_batch, lrs=_floats(lrs, (1e-3,), "--lr"),
        wds=_floats(wds, (1e-3,), "--wd"), warmup_epochs=warmup_epochs, final_wd=final_wd,
        grad_clip=grad_clip, num_queries=num_queries, depth=depth, num_heads=num_heads)
    evaluate_checkpoint("attentive", checkpoint, data_dir=data_dir, dataset=dataset,
                        which=which, random_init=random_init, overrides=overrides or [],
                        out_path=out_path, batch_size=batch_size, device=device, bf16=bf16,
                        augment=augment, per_class=per_class, fraction=fraction, seed=seed,
                        settings=settings, baseline=not no_baseline)


def register(app: typer.Typer) -> None:
    import jepa_kit.cli.finetune  # noqa: F401  (adds `eval finetune` to eval_app)
    app.add_typer(eval_app, name="eval")
