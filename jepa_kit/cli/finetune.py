"""``eval finetune``: fine-tune a checkpoint's encoder end to end (MAE's recipe by default).

Every setting is a field of ``FinetuneConfig``; the common ones have their own flag and any
one can be set with ``--ft KEY=VALUE`` (value parsed as TOML), e.g. ``--ft betas=[0.9,0.95]``.
Under ``torchrun`` each process takes one device and its share of every batch.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from jepa_kit.cli.eval_report import out
from jepa_kit.cli.options import (
    CheckpointArg,
    DataOption,
    DatasetOption,
    DeviceOption,
    RandomInitOption,
    SetOption,
    WhichOption,
    eval_app,
)
from jepa_kit.errors import UserError
from jepa_kit.eval.finetune_config import FinetuneConfig
from jepa_kit.eval.source import data_section

#: Config fields with a flag of their own (``--batch-size`` for ``batch_size``).
FLAGGED = ("epochs", "batch_size", "max_steps", "blr", "lr", "warmup_epochs", "weight_decay",
           "layer_decay", "drop_path", "mixup", "cutmix", "smoothing", "rand_augment",
           "re_prob", "num_workers", "seed")


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')}" if key in FLAGGED else f"--ft {key}=..."


def build_config(given: dict[str, Any], extra: list[str]) -> FinetuneConfig:
    """``FinetuneConfig`` from flags that were given and ``--ft KEY=VALUE`` strings; a
    ``UserError`` names each bad flag, what it got and what it expects."""
    from jepa_kit.recipe import parse_value

    values = {k: v for k, v in given.items() if v is not None}
    fields = FinetuneConfig.model_fields
    for item in extra:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--ft {item!r}: expected KEY=VALUE, e.g. --ft betas=[0.9,0.95]")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"--ft {key}: not a fine-tuning setting{hint} (settings: "
                            f"{', '.join(fields)})")
        values[key] = parse_value(raw)
    try:
        return FinetuneConfig(**values)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            got = f" (got {values[key]!r})" if key in values else ""
            where = _flag(key) if key else "settings"
            lines.append(f"  {where}: {error['msg']}{got}")
        raise UserError("bad fine-tuning settings:\n" + "\n".join(lines)) from None


def default_output_dir(checkpoint: Path, which: str | None, random_init: bool) -> Path:
    """``RUN_DIR/finetune[_which][_random_init]`` for ``RUN_DIR/checkpoints/step_N.pt``, else
    ``<checkpoint stem>_finetune...`` beside the checkpoint."""
    name = "finetune" + (f"_{which}" if which else "") + ("_random_init" if random_init else "")
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent / name
    return checkpoint.with_name(f"{checkpoint.stem}_{name}")


@eval_app.command("finetune")
def finetune_command(
    checkpoint: Path = CheckpointArg,
    data_dir: Path | None = DataOption,
    dataset: str | None = DatasetOption,
    which: str = WhichOption,
    random_init: bool = RandomInitOption,
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the train split "
                                      "(default: 100, MAE ViT-B)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Images per step and "
                                          "process (default: 64)."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after N steps."),
    blr: float | None = typer.Option(None, "--blr", help="Base lr per 256 images "
                                     "(default: 1e-3)."),
    lr: float | None = typer.Option(None, "--lr", help="Absolute peak lr (overrides --blr)."),
    warmup_epochs: float | None = typer.Option(None, "--warmup-epochs",
                                               help="(default: 5)"),
    weight_decay: float | None = typer.Option(None, "--weight-decay", help="(default: 0.05)"),
    layer_decay: float | None = typer.Option(None, "--layer-decay", help="Layer-wise lr decay "
                                             "(default: 0.75); 1 turns it off."),
    drop_path: float | None = typer.Option(None, "--drop-path", help="(default: 0.1)"),
    mixup: float | None = typer.Option(None, "--mixup", help="Mixup alpha (default: 0.8)."),
    cutmix: float | None = typer.Option(None, "--cutmix", help="CutMix alpha (default: 1.0)."),
    smoothing: float | None = typer.Option(None, "--smoothing", help="(default: 0.1)"),
    rand_augment: str | None = typer.Option(None, "--rand-augment", help="timm spec "
                                            "(default: rand-m9-mstd0.5-inc1); 'none'."),
    re_prob: float | None = typer.Option(None, "--re-prob", help="Random erasing "
                                         "(default: 0.25)."),
    num_workers: int | None = typer.Option(None, "--num-workers", help="(default: 2)"),
    seed: int | None = typer.Option(None, "--seed", help="(default: 0)"),
    bf16: bool = typer.Option(False, "--bf16", help="Forward passes under bf16 autocast."),
    extra: list[str] = typer.Option(None, "--ft", metavar="KEY=VALUE",
                                    help="Any fine-tuning setting, e.g. --ft betas=\\[0.9,0.95]."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Run folder "
                                           "(default: RUN_DIR/finetune)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint "
                                "in the output folder."),
    overrides: list[str] = SetOption,
    device: str = DeviceOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the result."),
) -> None:
    """Fine-tune the encoder with a linear head (RandAugment, Mixup/CutMix, drop path, label
    smoothing, layer-wise lr decay); checkpointed each epoch, resumable, torchrun-ready."""
    from jepa_kit.checkpoint import load_checkpoint
    from jepa_kit.eval.finetune import Source, finetune

    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter(f"expected auto, cpu or cuda, got {device!r}",
                                 param_hint="--device")
    given = {k: v for k, v in locals().items() if k in FLAGGED}
    config = build_config(given, extra or [])
    if bf16:
        config.precision = "bf16"
    state = load_checkpoint(checkpoint)
    raw = state["recipe"] if isinstance(state["recipe"], dict) else {}
    source = Source(checkpoint, state, data_section(raw, data_dir, dataset),
                    list(overrides or []), which, random_init)
    target = output_dir or default_output_dir(checkpoint, which, random_init)
    result = finetune(source, config, target, device=device, resume=resume,
                      log=None if quiet else out.print)
    _print(result, target)


def _print(result: dict[str, Any], target: Path) -> None:
    if not result or int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 reports
        return
    first, m, s = result["initial"], result["metrics"], result["settings"]
    weights = "random init" if result["random_init"] else f"step {result['checkpoint_step']}"
    table = Table(title=f"fine-tuning: {result['which']} encoder, {weights}")
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_row("val loss", f"{first['val_loss']:.4f}", f"{m['val_loss']:.4f}")
    table.add_row("val top-1", f"{100 * first['top1']:.2f}%", f"{100 * m['top1']:.2f}%")
    table.add_row("epochs / steps", "", f"{result['epochs_done']} / {result['steps_done']}"
                  + ("" if result["finished"] else " (stopped early)"))
    table.add_row("peak lr (global batch)", "", f"{s['peak_lr']:.3g} ({s['global_batch']})")
    out.print(table)
    out.print(f"wrote {target / 'finetune.json'}")
