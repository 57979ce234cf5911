"""``jepa-kit eval finetune``: a checkpoint's encoder fine-tuned by the ``finetune`` method.

    checkpoint + FinetuneConfig -> a recipe (method finetune, the checkpoint's encoder and
    data, AdamW with warmup + cosine) -> the ``Trainer`` -> finetune.json

The training loop is the engine's (``jepa_kit.train.trainer``): checkpoints every epoch,
resume, precision, torchrun (DDP on gloo or NCCL, the global batch is ``batch_size x
processes``), stop signals. Validation top-1 is its periodic evaluation (the ``classify``
protocol on the ``classifier`` network, every epoch), read back from ``metrics.jsonl``. This
module adds the score before training and ``finetune.json`` (settings, val loss and top-1
before training and after every epoch). Defaults and paper numbers:
``jepa_kit.eval.finetune_config``, docs/finetuning.md.

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from jepa_kit import __version__
from jepa_kit.atomic import atomic_write
from jepa_kit.build import build_dataset, method_class
from jepa_kit.checkpoint import list_checkpoints
from jepa_kit.data.loader import batches_per_epoch
from jepa_kit.errors import UserError
from jepa_kit.eval.checkpoint_model import recipe_from_checkpoint
from jepa_kit.eval.finetune_config import FinetuneConfig
from jepa_kit.eval.periodic import PeriodicEval
from jepa_kit.recipe import RecipeBase, flatten, recipe_to_dict, validate_recipe
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train import distributed as D
from jepa_kit.train.trainer import Trainer

RESULT_FILE = "finetune.json"
#: Settings a resume may change: they do not alter what is computed.
RESUMABLE_CHANGES = frozenset({"max_steps", "num_workers", "eval_batch_size"})
#: ``FinetuneConfig`` fields that are the method's own options (``[method]``).
METHOD_FIELDS = ("layer_decay", "mixup", "cutmix", "mixup_prob", "mixup_switch_prob",
                 "smoothing", "rand_augment", "re_prob", "crop_scale")
#: Periodic evaluation's keys for the classifier's val scores.
_KEYS = {"top1": "classify_top1", "top5": "classify_top5", "val_loss": "classify_val_loss",
         "num_val": "classify_num_val"}


@dataclass
class Source:
    """Where the encoder comes from: the checkpoint's state and recipe, as the CLI read them."""

    path: Path
    state: dict[str, Any]
    recipe_dict: dict[str, Any]
    overrides: list[str] = field(default_factory=list)
    which: str | None = None
    random_init: bool = False


def finetune_recipe(source: Source, config: FinetuneConfig, output_dir: Path, *,
                    num_classes: int, steps_per_epoch: int, world_size: int = 1) -> RecipeBase:
    """The ``finetune`` recipe: the checkpoint's encoder (drop path set) and data, its
    ``which`` network as the start (``train.init_from``), ``config``'s schedule and options."""
    name = str(source.path)
    pretrained = recipe_from_checkpoint({"recipe": source.recipe_dict}, name, source.overrides)
    saved = recipe_to_dict(pretrained)
    encoder = dict(saved["encoder"])
    if "drop_path_rate" in type(pretrained.encoder).model_fields:
        encoder["drop_path_rate"] = config.drop_path
    elif config.drop_path > 0:
        raise UserError(f"--drop-path {config.drop_path}: encoder.kind="
                        f"{pretrained.encoder.kind!r} has no drop_path_rate option; pass "
                        f"--drop-path 0")
    network = method_class(pretrained).encoder_for(source.which)
    wd = config.weight_decay
    recipe = {
        "run": {"name": output_dir.name or "finetune", "seed": config.seed,
                "output_dir": str(output_dir)},
        "method": {"kind": "finetune", "num_classes": num_classes, "encoder_network": network,
                   **config.model_dump(mode="json", include=set(METHOD_FIELDS))},
        "encoder": encoder,
        "data": {**saved["data"], "num_workers": config.num_workers},
        "optim": {"optimizer": {"kind": "adamw", "betas": list(config.betas)},
                  "start_lr": 0.0, "lr": config.peak_lr(config.batch_size * world_size),
                  "final_lr": config.min_lr, "warmup_epochs": config.warmup_epochs,
                  "weight_decay": wd, "final_weight_decay": wd},
        "train": {"epochs": config.epochs, "batch_size": config.batch_size,
                  "max_steps": config.max_steps, "precision": config.precision,
                  "checkpoint_every": steps_per_epoch, "keep_last": 2,
                  "log_every": min(10, steps_per_epoch), "grad_clip": config.clip_grad,
                  "init_from": None if source.random_init else str(source.path.resolve())},
        "eval": {"every_epochs": 1, "protocols": ["classify"], "monitors": False},
    }
    return validate_recipe(recipe, f"{name} (fine-tuning recipe)")


def _check_resume(saved: dict[str, Any], config: FinetuneConfig, origin: dict[str, Any],
                  path: Path) -> None:
    """Refuse a resume whose settings or source differ from those of the run in ``path``."""
    keep = set(FinetuneConfig.model_fields) - RESUMABLE_CHANGES
    old = {f"finetune.{k}": v for k, v in flatten(saved.get("settings", {})).items()
           if k in keep}
    now = {f"finetune.{k}": v for k, v in flatten(config.model_dump(mode="json")).items()
           if k in keep}
    old.update({f"source.{k}": v for k, v in saved.get("source", {}).items()})
    now.update({f"source.{k}": v for k, v in origin.items()})
    changed = [f"{k}: {old.get(k)!r} in the checkpoint, {now.get(k)!r} now"
               for k in sorted(set(old) | set(now)) if old.get(k) != now.get(k)]
    if changed:
        raise UserError(f"cannot resume from {path}: the settings differ from the ones it was "
                        f"made with (only {', '.join(sorted(RESUMABLE_CHANGES))} may change):\n"
                        + "\n".join(f"  - {c}" for c in changed))


def finetune(source: Source, config: FinetuneConfig, output_dir: Path, *,
             device: str = "auto", resume: bool = False,
             log: Any = None) -> dict[str, Any]:
    """Fine-tune ``source``'s encoder; returns (and on rank 0 writes) the result dict.

    ``log(message)`` receives progress lines on rank 0 (None: silent)."""
    tic = time.perf_counter()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    say = log if (log is not None and int(os.environ.get("RANK", "0")) == 0) \
        else (lambda message: None)
    result_file = output_dir / RESULT_FILE
    origin = {"checkpoint": str(source.path.resolve()), "which": source.which,
              "random_init": source.random_init}
    previous: dict[str, Any] = {}
    if list_checkpoints(output_dir / "checkpoints"):
        if not resume:
            raise UserError(f"{output_dir} already holds a fine-tuning run; pass --resume to "
                            f"continue it or choose another --output-dir")
        if result_file.exists():
            previous = json.loads(result_file.read_text())
            _check_resume(previous, config, origin, list_checkpoints(
                output_dir / "checkpoints")[-1])

    data = recipe_from_checkpoint({"recipe": source.recipe_dict}, str(source.path),
                                  source.overrides).data
    train_split = build_dataset(data, train=True, seed=config.seed)
    classes = list(getattr(train_split, "classes", None) or [])
    if not classes:
        raise UserError(f"data: the train split of {source.path}'s dataset is unlabelled; "
                        f"fine-tuning needs labelled images (one sub-folder per class)")
    spe = batches_per_epoch(len(train_split), config.batch_size, world)
    if spe == 0:
        raise UserError(f"data: {len(train_split)} train images give no full batch of "
                        f"--batch-size {config.batch_size} on {world} process(es); "
                        f"lower --batch-size")
    recipe = finetune_recipe(source, config, output_dir, num_classes=len(classes),
                             steps_per_epoch=spe, world_size=world)
    settings = {**config.model_dump(mode="json"), "peak_lr": recipe.optim.lr,
                "global_batch": config.batch_size * world, "world_size": world,
                "steps_per_epoch": spe, "total_steps": spe * config.epochs}

    owned = not torch.distributed.is_initialized()  # a process group we start, we end
    trainer = Trainer(recipe, output_dir=output_dir, resume=resume, device=device,
                      quiet=log is None, allow_nonempty=True)
    try:
        scorer = PeriodicEval(recipe.data, trainer.device, protocols=["classify"],
                              seed=config.seed, precision=config.precision,
                              rank=trainer.dist.rank, world_size=trainer.dist.world_size)
        scorer.protocols[0].config.batch_size = config.eval_batch_size
        classifier = trainer.method.eval_network(None)
        initial = previous.get("initial") if trainer.resumed_from is not None else None
        if initial is None:
            with torch.random.fork_rng(devices=[]):  # the run's streams stay untouched
                initial = _scores(scorer(classifier))
            say(f"before fine-tuning: val loss {initial['val_loss']:.4f}, "
                f"top-1 {100 * initial['top1']:.2f}%")
        if trainer.dist.is_main:
            _write(result_file, {"settings": settings, "source": origin, "initial": initial})
        trainer.run()
        step, epoch_done = trainer.step, trainer.step // spe
        history = _history(output_dir, spe, step)
        if step % spe and (not history or history[-1]["step"] != step):
            # Stopped mid-epoch (--max-steps): score where it stopped, as a fractional epoch.
            history.append({"epoch": step / spe, "step": step, **_scores(scorer(classifier))})
    finally:
        trainer.close()
        if owned:
            D.shutdown(trainer.dist)
    result = _result(source, recipe, classes, settings, initial, history, epoch_done, step,
                     config, trainer.device, tic,
                     str(trainer.resumed_from) if trainer.resumed_from else None)
    if trainer.dist.is_main:
        _write(result_file, result)
    return result


def _scores(row: dict[str, float]) -> dict[str, Any]:
    """The classifier's val scores from a periodic-evaluation row (top-5 None when absent)."""
    scores: dict[str, Any] = {key: row.get(name) for key, name in _KEYS.items()}
    scores["num_val"] = int(scores["num_val"])
    return scores


def _history(output_dir: Path, steps_per_epoch: int, last_step: int) -> list[dict[str, Any]]:
    """One row per evaluated epoch from ``metrics.jsonl``: its val scores, the mean of the
    epoch's logged train losses and the last logged lr."""
    rows = read_metrics(output_dir / "metrics.jsonl")
    evals = {int(r["step"]): r for r in rows if _KEYS["top1"] in r and r["step"] <= last_step}
    history = []
    for step, row in sorted(evals.items()):
        start = step - steps_per_epoch
        train = [r for r in rows if "loss" in r and start < int(r["step"]) <= step]
        history.append({
            "epoch": step // steps_per_epoch, "step": step,
            "train_loss": sum(r["loss"] for r in train) / len(train) if train else None,
            "lr": train[-1]["lr"] if train else None, **_scores(row),
            # The logged steps' mean time x the epoch's steps (logging is every few steps).
            "seconds": round(steps_per_epoch * sum(r["step_time_s"] for r in train)
                             / len(train), 2) if train else None})
    return history


def _result(source: Source, recipe: RecipeBase, classes: list[str], settings: dict[str, Any],
            initial: dict[str, Any], history: list[dict[str, Any]], epoch: int, step: int,
            config: FinetuneConfig, dev: torch.device, tic: float,
            resumed_from: str | None) -> dict[str, Any]:
    last = history[-1] if history else {**initial, "epoch": 0, "step": 0}
    pretrained = recipe_from_checkpoint({"recipe": source.recipe_dict}, str(source.path),
                                        source.overrides)
    return {
        "protocol": "finetune", "checkpoint": str(source.path.resolve()),
        "checkpoint_step": 0 if source.random_init else int(source.state.get("step", 0)),
        "which": source.which or next(iter(method_class(pretrained).eval_encoders)),
        "random_init": source.random_init,
        "dataset": recipe_to_dict(recipe)["data"], "classes": classes, "settings": settings,
        "source": {"checkpoint": str(source.path.resolve()), "which": source.which,
                   "random_init": source.random_init},
        "initial": initial, "history": history,
        "metrics": {"top1": last["top1"], "top5": last["top5"], "val_loss": last["val_loss"],
                    "epoch": last["epoch"], "step": last["step"],
                    "num_classes": len(classes), "num_val": last["num_val"]},
        "finished": epoch >= config.epochs, "epochs_done": epoch, "steps_done": step,
        "resumed_from": resumed_from, "device": str(dev), "precision": config.precision,
        "seconds": round(time.perf_counter() - tic, 2), "jepa_kit": __version__,
    }


def _write(path: Path, result: dict[str, Any]) -> None:
    text = json.dumps(result, indent=2) + "\n"
    atomic_write(path, lambda handle: handle.write(text))
