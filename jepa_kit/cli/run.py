"""``run``: pre-train from a recipe, in this process or as a torchrun job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from jepa_kit.cli.console import err
from jepa_kit.cli.options import SetOption
from jepa_kit.recipe import load_recipe


def run(
    recipe: Path = typer.Argument(..., help="Recipe file, or a shipped recipe's name "
                                  "(jepa-kit recipes list)."),
    overrides: list[str] = SetOption,
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o",
                                           help="Run directory (default: run.output_dir)."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: recipe)."),
    nproc: int = typer.Option(1, "--nproc", min=1,
                              help="Processes on this machine; >1 launches torchrun."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    allow_nonempty: bool = typer.Option(
        False, "--allow-nonempty", help="Write the run into a folder that holds other files."),
    allow_changes: bool = typer.Option(
        False, "--allow-changes", help="Resume although the recipe changed in ways that break "
        "exact reproduction (seed, batch size, lr, models, ...)."),
) -> None:
    """Pre-train the recipe's method (method.kind: ijepa, lejepa, vjepa or a plug-in's) and
    write the run directory: metrics, checkpoints, the resolved recipe."""
    if device not in (None, "cpu", "cuda"):
        raise typer.BadParameter(f"expected cpu or cuda, got {device!r}", param_hint="--device")
    resolved = load_recipe(recipe, overrides or [])
    if nproc > 1 and "LOCAL_RANK" not in os.environ:
        from jepa_kit.cli.launch import launch

        raise typer.Exit(launch(nproc, sys.argv[1:]))

    from jepa_kit.train.signals import StopRequested
    from jepa_kit.train.trainer import RunStopped, train

    try:
        train(resolved, output_dir=output_dir, resume=resume, device=device, quiet=quiet,
              allow_nonempty=allow_nonempty, allow_changes=allow_changes)
    except RunStopped as exc:  # a non-finite loss, or collapse (train.stop_on_collapse)
        err.print(f"[bold red]run stopped:[/] {exc}")
        raise typer.Exit(1) from None
    except StopRequested as exc:
        # Every rank stops at the same step; the one that wrote the checkpoint says where.
        if exc.checkpoint is not None or os.environ.get("RANK", "0") == "0":
            err.print(f"[bold yellow]run stopped:[/] {exc}")
        raise typer.Exit(exc.exit_code) from None


def register(app: typer.Typer) -> None:
    app.command()(run)
