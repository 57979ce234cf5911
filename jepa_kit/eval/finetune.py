"""End-to-end fine-tuning of a checkpoint's encoder with a linear head (MAE's protocol).

    rebuild the encoder (drop path set) -> pool + LayerNorm + head -> per epoch: RandAugment
    batches -> Mixup/CutMix -> soft-target cross-entropy -> AdamW with layer-wise lr decay
    -> validate -> checkpoint

Runs in one process or one per device under ``torchrun`` (DDP on gloo or NCCL, as pre-training;
the global batch is ``batch_size x processes``). Rank 0 writes ``checkpoints/step_N.pt`` at the
end of every epoch (atomically, with a content hash) and ``finetune.json`` (settings, the
val loss and top-1 before training and after every epoch). ``resume=True`` continues from the
newest checkpoint at the next epoch; the data order and augmentations of an epoch depend only
on ``(seed, epoch, rank)``, so on the CPU a resumed run ends with the same weights as one that
never stopped. Defaults and paper numbers: ``jepa_kit.eval.finetune_config``, docs/finetuning.md.

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from jepa_kit import __version__
from jepa_kit.atomic import atomic_write
from jepa_kit.build import method_class
from jepa_kit.checkpoint import (
    checkpoint_name,
    list_checkpoints,
    prune_checkpoints,
    resume_checkpoint,
    save_checkpoint,
)
from jepa_kit.data.loader import build_eval_loader
from jepa_kit.data.transforms import EvalTransform
from jepa_kit.errors import UserError
from jepa_kit.eval.checkpoint_model import build_from_state, recipe_from_checkpoint
from jepa_kit.eval.features import build_eval_splits
from jepa_kit.eval.finetune_config import FinetuneConfig
from jepa_kit.eval.finetune_data import TrainLoader, build_mixup
from jepa_kit.eval.finetune_model import Classifier, apply_lr, lr_at, param_groups
from jepa_kit.recipe import flatten, recipe_to_dict
from jepa_kit.train import distributed as D

RESULT_FILE = "finetune.json"
#: Settings a resume may change: they do not alter what is computed.
RESUMABLE_CHANGES = frozenset({"max_steps", "num_workers", "eval_batch_size"})


@dataclass
class Source:
    """Where the encoder comes from: the checkpoint's state and recipe, as the CLI read them."""

    path: Path
    state: dict[str, Any]
    recipe_dict: dict[str, Any]
    overrides: list[str] = field(default_factory=list)
    which: str | None = None
    random_init: bool = False


def build_encoder(source: Source, config: FinetuneConfig) -> tuple[nn.Module, Any]:
    """The encoder and validated recipe, with ``encoder.drop_path_rate = config.drop_path``."""
    name = str(source.path)
    recipe = recipe_from_checkpoint({"recipe": source.recipe_dict}, name, source.overrides)
    if "drop_path_rate" in type(recipe.encoder).model_fields:
        recipe = recipe_from_checkpoint(
            {"recipe": source.recipe_dict}, name,
            [*source.overrides, f"encoder.drop_path_rate={config.drop_path!r}"])
    elif config.drop_path > 0:
        raise UserError(f"--drop-path {config.drop_path}: encoder.kind={recipe.encoder.kind!r} "
                        f"has no drop_path_rate option; pass --drop-path 0")
    encoder = build_from_state(source.state, recipe, which=source.which,
                               random_init=source.random_init, source=name)
    return encoder, recipe


@torch.no_grad()
def evaluate(model: nn.Module, loader: Any, device: torch.device, info: D.DistInfo,
             precision: str) -> dict[str, float]:
    """Val cross-entropy (no smoothing), top-1 and top-5, summed over every rank's share."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top1, top5, count
    try:
        for images, labels in loader:
            images, labels = images.to(device), torch.as_tensor(labels).to(device)
            with _autocast(device, precision):
                logits = model(images)
            logits = logits.float()
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            hits = top == labels[:, None]
            sums += torch.stack([F.cross_entropy(logits, labels, reduction="sum").double(),
                                 hits[:, 0].sum().double(), hits.any(1).sum().double(),
                                 torch.tensor(float(len(labels)), device=device,
                                              dtype=torch.float64)])
    finally:
        model.train(was_training)
    if info.enabled:
        torch.distributed.all_reduce(sums)
    loss, top1, top5, count = sums.tolist()
    # top-5 says nothing with 5 classes or fewer (as in eval knn): reported as None then.
    classes = int(model.head[-1].out_features)  # type: ignore[index]
    return {"val_loss": loss / count, "top1": top1 / count,
            "top5": top5 / count if classes > 5 else None, "num_val": int(count)}


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _check_resume(state: dict[str, Any], config: FinetuneConfig, recipe: dict[str, Any],
                  source: dict[str, Any], path: Path) -> None:
    """Refuse a resume whose settings, data or source differ from the checkpoint's."""
    saved = {f"finetune.{k}": v for k, v in flatten(state.get("finetune", {})).items()
             if k not in RESUMABLE_CHANGES}
    now = {f"finetune.{k}": v for k, v in flatten(config.model_dump(mode="json")).items()
           if k not in RESUMABLE_CHANGES}
    saved.update({f"recipe.{k}": v for k, v in flatten(state.get("recipe", {})).items()})
    now.update({f"recipe.{k}": v for k, v in flatten(recipe).items()})
    saved.update({f"source.{k}": v for k, v in state.get("source", {}).items()})
    now.update({f"source.{k}": v for k, v in source.items()})
    changed = [f"{k}: {saved.get(k)!r} in the checkpoint, {now.get(k)!r} now"
               for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]
    if changed:
        raise UserError(f"cannot resume from {path}: the settings differ from the ones it was "
                        f"made with (only {', '.join(sorted(RESUMABLE_CHANGES))} may change):\n"
                        + "\n".join(f"  - {c}" for c in changed))


def finetune(source: Source, config: FinetuneConfig, output_dir: Path, *,
             device: str = "auto", resume: bool = False,
             log: Any = None) -> dict[str, Any]:
    """Fine-tune ``source``'s encoder; returns (and on rank 0 writes) the result dict.

    ``log(message)`` receives progress lines on rank 0 (None: silent)."""
    from jepa_kit.train.trainer import resolve_device

    tic = time.perf_counter()
    dev = resolve_device(device)
    owned = not torch.distributed.is_initialized()  # a process group we start, we end
    info = D.init_distributed(dev.type)
    if dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    say = log if (log is not None and info.is_main) else (lambda message: None)
    ckpt_dir = output_dir / "checkpoints"
    if not resume and list_checkpoints(ckpt_dir):
        raise UserError(f"{output_dir} already holds a fine-tuning run; pass --resume to "
                        f"continue it or choose another --output-dir")

    encoder, recipe = build_encoder(source, config)
    splits = build_eval_splits(recipe.data, seed=recipe.run.seed)
    classes = list(splits.train.classes)
    model = Classifier(encoder, len(classes), seed=config.seed).to(dev)
    groups = param_groups(model, weight_decay=config.weight_decay,
                          layer_decay=config.layer_decay, encoder_kind=recipe.encoder.kind)
    optimizer = torch.optim.AdamW(groups, lr=0.0, betas=config.betas)
    train = TrainLoader(splits.train, config, img_size=recipe.data.img_size, rank=info.rank,
                        world_size=info.world_size, pin_memory=dev.type == "cuda")
    if train.steps_per_epoch == 0:
        raise UserError(f"data: {len(splits.train)} train images give no full batch of "
                        f"--batch-size {config.batch_size} on {info.world_size} process(es); "
                        f"lower --batch-size")
    val = build_eval_loader(splits.val, EvalTransform(recipe.data),
                            batch_size=config.eval_batch_size, rank=info.rank,
                            world_size=info.world_size, num_workers=config.num_workers)
    mixup = build_mixup(config, len(classes))
    criterion: nn.Module = (SoftTargetCrossEntropy() if mixup is not None else
                            LabelSmoothingCrossEntropy(config.smoothing) if config.smoothing > 0
                            else nn.CrossEntropyLoss())
    global_batch = config.batch_size * info.world_size
    peak = config.peak_lr(global_batch)
    spe = train.steps_per_epoch
    recipe_dict = recipe_to_dict(recipe)
    origin = {"checkpoint": str(source.path.resolve()), "which": source.which,
              "random_init": source.random_init}

    epoch, step, history, initial, resumed_from = 0, 0, [], None, None
    found = resume_checkpoint(ckpt_dir) if resume else None
    if found is not None:
        path, state = found[0], found[1].to_payload()  # this module reads the payload's keys
        _check_resume(state, config, recipe_dict, origin, path)
        model.encoder.load_state_dict(state["encoder"])
        model.head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, step = int(state["epoch"]), int(state["step"])
        history, initial, resumed_from = state["history"], state["initial"], str(path)
        say(f"resumed from {path} at epoch {epoch} (step {step})")
    elif resume:
        say(f"--resume: no checkpoint in {ckpt_dir}; starting from epoch 0")

    net: nn.Module = model
    if info.enabled:
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda"
                                      else None)
    if initial is None:
        initial = evaluate(model, val, dev, info, config.precision)
        say(f"before fine-tuning: val loss {initial['val_loss']:.4f}, "
            f"top-1 {100 * initial['top1']:.2f}%")

    settings = {**config.model_dump(mode="json"), "peak_lr": peak, "global_batch": global_batch,
                "world_size": info.world_size, "steps_per_epoch": spe,
                "total_steps": spe * config.epochs}
    result: dict[str, Any] = {}
    stopped = False
    while epoch < config.epochs and not stopped:
        model.train()
        loss_sum, seen, epoch_tic = 0.0, 0, time.perf_counter()
        for images, labels in train.epoch(epoch):
            if config.max_steps is not None and step >= config.max_steps:
                stopped = True
                break
            lr = lr_at(step, steps_per_epoch=spe, epochs=config.epochs,
                       warmup_epochs=config.warmup_epochs, peak=peak, floor=config.min_lr)
            apply_lr(optimizer, lr)
            images, labels = images.to(dev, non_blocking=True), labels.to(dev)
            targets = labels
            if mixup is not None:
                images, targets = mixup(images, labels)
            with _autocast(dev, config.precision):
                logits = net(images)
            loss = criterion(logits.float(), targets)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise UserError(f"non-finite fine-tuning loss at step {step + 1} (lr {lr:.3g}); "
                                f"lower --blr or --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            optimizer.step()
            step += 1
            loss_sum, seen = loss_sum + loss_value, seen + 1
        if seen == 0:
            break
        finished_epoch = not stopped or seen == spe
        metrics = evaluate(model, val, dev, info, config.precision)
        epoch += 1 if finished_epoch else 0
        row = {"epoch": epoch if finished_epoch else epoch + seen / spe, "step": step,
               "train_loss": loss_sum / seen, "lr": lr, **metrics,
               "seconds": round(time.perf_counter() - epoch_tic, 2)}
        history.append(row)
        say(f"epoch {row['epoch']:g} step {step}: train loss {row['train_loss']:.4f}, val loss "
            f"{metrics['val_loss']:.4f}, top-1 {100 * metrics['top1']:.2f}%")
        if info.is_main and finished_epoch:
            save_checkpoint(ckpt_dir / checkpoint_name(step), {
                "kind": "finetune", "step": step, "epoch": epoch, "recipe": recipe_dict,
                "networks": ["encoder", "head"], "encoder": model.encoder.state_dict(),
                "head": model.head.state_dict(), "optimizer": optimizer.state_dict(),
                "finetune": config.model_dump(mode="json"), "source": origin,
                "history": history, "initial": initial, "versions": {"jepa-kit": __version__},
            })
            prune_checkpoints(ckpt_dir, keep_last=2, current_step=step)
        result = _result(source, recipe, classes, settings, initial, history, epoch, step,
                         config, dev, tic, resumed_from)
        if info.is_main:
            _write(output_dir / RESULT_FILE, result)
    if not result:  # nothing left to train (a resume of a finished run)
        result = _result(source, recipe, classes, settings, initial, history, epoch, step,
                         config, dev, tic, resumed_from)
        if info.is_main:
            _write(output_dir / RESULT_FILE, result)
    D.barrier(info)
    if owned:
        D.shutdown(info)
    return result


def _result(source: Source, recipe: Any, classes: list[str], settings: dict[str, Any],
            initial: dict[str, Any], history: list[dict[str, Any]], epoch: int, step: int,
            config: FinetuneConfig, dev: torch.device, tic: float,
            resumed_from: str | None) -> dict[str, Any]:
    last = history[-1] if history else {**initial, "epoch": 0, "step": 0}
    return {
        "protocol": "finetune", "checkpoint": str(source.path.resolve()),
        "checkpoint_step": 0 if source.random_init else int(source.state.get("step", 0)),
        "which": source.which or next(iter(method_class(recipe).eval_encoders)),
        "random_init": source.random_init,
        "dataset": recipe_to_dict(recipe)["data"], "classes": classes, "settings": settings,
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
