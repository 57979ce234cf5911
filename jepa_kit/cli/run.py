"""``run``: pre-train from a recipe, in this process or as a torchrun job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console

from jepa_kit.cli.options import SetOption
from jepa_kit.recipe import load_recipe

err = Console(stderr=True, highlight=False, soft_wrap=True)


def run(
    recipe: Path = typer.Argument(..., help="Recipe file."),
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
    """Pre-train: masks -> context encoder -> predictor -> target encoder -> loss -> step."""
    if device not in (None, "cpu", "cuda"):
        raise typer.BadParameter(f"expected cpu or cuda, got {device!r}", param_hint="--device")
    resolved = load_recipe(recipe, overrides or [])
    if nproc > 1 and "LOCAL_RANK" not in os.environ:
        raise typer.Exit(_launch_torchrun(nproc))

    from jepa_kit.train.signals import StopRequested
    from jepa_kit.train.trainer import NonFiniteLossError, train

    try:
        train(resolved, output_dir=output_dir, resume=resume, device=device, quiet=quiet,
              allow_nonempty=allow_nonempty, allow_changes=allow_changes)
    except NonFiniteLossError as exc:
        err.print(f"[bold red]run stopped:[/] {exc}")
        raise typer.Exit(1) from None
    except StopRequested as exc:
        err.print(f"[bold yellow]run stopped:[/] {exc}")
        raise typer.Exit(exc.exit_code) from None


def _launch_torchrun(nproc: int) -> int:
    """Re-run this command under torchrun with ``nproc`` processes (``--nproc`` removed)."""
    args = sys.argv[1:]
    cleaned: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        cleaned.append(arg)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "jepa_kit", *cleaned]
    err.print("launching: " + " ".join(cmd))
    return subprocess.call(cmd)


def register(app: typer.Typer) -> None:
    app.command()(run)
