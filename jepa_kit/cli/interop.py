"""``import-reference`` and ``export``: checkpoints in from the official code, weights out."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)


def import_reference(
    path: Path = typer.Argument(..., help="Official I-JEPA or V-JEPA checkpoint (.pth.tar)."),
    out_dir: Path = typer.Option(..., "--out", help="Directory for the jepa-kit checkpoint."),
    num_heads: int | None = typer.Option(
        None, min=1, help="Encoder heads (not stored in the file; default: read off the width)."),
) -> None:
    """Convert an official I-JEPA or V-JEPA checkpoint into a jepa-kit checkpoint (anything else:
    exit 2)."""
    from jepa_kit.interop.reference import import_reference as convert

    written = convert(path, out_dir, num_heads=num_heads)
    out.print(f"wrote {written}")


def export(
    checkpoint: Path = typer.Argument(
        ..., help="jepa-kit checkpoint (step_N.pt or step_N.dcp), or a run folder (its newest "
        "checkpoint)."),
    fmt: str = typer.Option("safetensors", "--format", help="safetensors, timm or hf."),
    which: str | None = typer.Option(
        None, "--which", help="Which of the method's encoders (I-JEPA: target or context); "
        "default: the method's."),
    out_path: Path = typer.Option(..., "--out", help="Output file (timm, hf: a directory)."),
    card: bool = typer.Option(
        True, "--card/--no-card", help="Write a model card beside the weights (README.md in "
        "a folder, NAME.README.md beside a file)."),
) -> None:
    """Export an encoder's weights for timm, Hugging Face transformers or plain safetensors,
    with a model card: method, architecture, data, steps, evaluation results with their
    random-init baselines, how to load it, the recipe."""
    from jepa_kit.api import find_checkpoint
    from jepa_kit.interop.card import card_path
    from jepa_kit.interop.export import EXPORT_FORMATS, export_checkpoint

    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(f"expected safetensors, timm or hf, got {fmt!r}",
                                 param_hint="--format")
    written = export_checkpoint(find_checkpoint(checkpoint), fmt=fmt,  # type: ignore[arg-type]
                                which=which, out=out_path, card=card)
    out.print(f"wrote {written}")
    if card:
        out.print(f"wrote {card_path(out_path, fmt)}")


def register(app: typer.Typer) -> None:
    app.command("import-reference")(import_reference)
    app.command()(export)
