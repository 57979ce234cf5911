"""``validate``, ``show`` and ``schema``: recipe commands (only ``validate --smoke`` trains);
``recipes list`` and ``recipes copy``: the recipes that ship with jepa-kit."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.build import method_class
from jepa_kit.cli.options import SetOption
from jepa_kit.errors import UserError
from jepa_kit.recipe import load_recipe, recipe_schema, recipe_to_toml
from jepa_kit.shipped_recipes import (
    copy_text,
    not_shipped,
    shipped_dir,
    shipped_recipe,
    shipped_recipes,
)

out = Console(highlight=False, soft_wrap=True)
recipes_app = typer.Typer(
    name="recipes", help="The recipes that ship with jepa-kit: list them, copy one to edit.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)


#: What ``validate --smoke`` changes in a recipe: one step of two images on the CPU, no extras.
SMOKE_OVERRIDES = [
    "train.batch_size=2", "train.max_steps=1", "train.device=cpu", "train.precision=fp32",
    "train.compile=false", "train.log_every=1", "data.num_workers=0",
    "eval.every_epochs=0", "eval.monitors=false",
]


def validate(
    recipes: list[Path] = typer.Argument(..., help="Recipe files (or shipped recipes' names) "
                                         "to check."),
    overrides: list[str] = SetOption,
    smoke: bool = typer.Option(
        False, "--smoke", help="Also run one optimizer step of each recipe on the CPU (batch "
        "of 2, in a temporary folder removed afterwards). It builds the recipe's real models "
        "and reads its real data, so a large recipe (ViT-H) takes minutes and much memory."),
) -> None:
    """Validate recipes against the installed components; exit 2 on the first invalid one."""
    for path in recipes:
        recipe = load_recipe(path, overrides or [])
        parts = ", ".join(f"{getattr(recipe, slot).kind} {slot}"
                          for slot in method_class(recipe).slots)
        out.print(f"[green]ok[/] {path}  ({recipe.method.kind}: {parts})")
        advice = teacher_advice(recipe)
        if advice is not None:
            out.print(f"[yellow]warning:[/] {path}: {advice}")
        if smoke:
            smoke_step(path, [*(overrides or []), *SMOKE_OVERRIDES,
                              *(["data.train_size=2"] if recipe.data.kind == "synthetic" else [])])


def teacher_advice(recipe: Any) -> str | None:
    """The target updater's retention warning, where the run's length is known before any data
    is read (a dataset with a ``train_size``, one process); the run itself always checks."""
    from jepa_kit.data.loader import batches_per_epoch
    from jepa_kit.optim.schedules import ScheduleLengths
    from jepa_kit.target_updaters.retention import retention_warning

    section = getattr(recipe, "target_updater", None)
    size = getattr(recipe.data, "train_size", None)
    if section is None or not isinstance(size, int):
        return None
    t, o = recipe.train, recipe.optim
    ipe = batches_per_epoch(size, t.batch_size) // t.accumulate_steps
    if ipe < 1:
        return None
    lengths = ScheduleLengths(ipe, t.epochs, o.warmup_epochs, o.ipe_scale)
    steps = t.epochs * ipe if t.max_steps is None else min(t.epochs * ipe, t.max_steps)
    return retention_warning(section, total_steps=lengths.momentum_steps, run_steps=steps)


def smoke_step(path: Path, overrides: list[str]) -> None:
    """One optimizer step of the recipe at ``path`` on the CPU, in a temporary run folder.

    A ``UserError`` (missing data, a component's bad output) propagates: exit 2.
    """
    from jepa_kit.train.trainer import NonFiniteLossError, train

    recipe = load_recipe(path, overrides)
    folder = Path(tempfile.mkdtemp(prefix="jepa-kit-smoke-"))
    tic = time.perf_counter()
    try:
        result = train(recipe, output_dir=folder / "run", quiet=True)
    except NonFiniteLossError as exc:
        out.print(f"[bold red]smoke failed:[/] {path}: {exc}")
        raise typer.Exit(1) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    loss = result.losses[-1] if result.losses else float("nan")
    out.print(f"[green]smoke ok[/]: step {result.step} loss {loss:.3f} in "
              f"{time.perf_counter() - tic:.1f} s")


def show(
    recipe: Path = typer.Argument(..., help="Recipe file, or a shipped recipe's name."),
    overrides: list[str] = SetOption,
) -> None:
    """Print the resolved recipe (extends and --set applied, defaults filled in) as TOML."""
    typer.echo(recipe_to_toml(load_recipe(recipe, overrides or [])), nl=False)


def schema(
    method: str = typer.Option("ijepa", "--method", help="The method whose recipe it describes."),
) -> None:
    """Print the JSON Schema of a recipe over the installed components."""
    typer.echo(json.dumps(recipe_schema(method), indent=2))


@recipes_app.command("list")
def list_recipes() -> None:
    """List the shipped recipes with their purpose (run one by name: jepa-kit run quickstart)."""
    found = shipped_recipes()
    if not found:
        raise UserError("this installation ships no recipes (no jepa_kit/recipes folder, no "
                        "recipes/ beside a clone's jepa_kit)")
    for ablations in (False, True):
        group = [r for r in found if r.is_ablation == ablations]
        title = ("Ablations: jepa-kit sweep NAME --seeds 0,1,2" if ablations else
                 "Recipes: jepa-kit run NAME")
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column("name", no_wrap=True)
        table.add_column("purpose")
        for recipe in group:
            table.add_row(recipe.name, recipe.purpose)
        if group:
            out.print(table)
    out.print(f"from {shipped_dir()}; jepa-kit recipes copy NAME writes one to edit")


@recipes_app.command("copy")
def copy_recipe(
    name: str = typer.Argument(..., help="A shipped recipe's name (jepa-kit recipes list)."),
    directory: Path = typer.Argument(Path("."), help="Folder to write NAME.toml into "
                                     "(created if missing)."),
) -> None:
    """Write an editable copy of a shipped recipe; an existing file is never overwritten."""
    recipe = shipped_recipe(name)
    if recipe is None:
        raise UserError(f"recipes copy: {name!r} is {not_shipped(name)}")
    target = directory / recipe.path.name
    if target.exists():
        raise UserError(f"recipes copy: {target} exists; not overwritten (remove it, or give "
                        f"another folder: jepa-kit recipes copy {recipe.name} DIR)")
    if directory.exists() and not directory.is_dir():
        raise UserError(f"recipes copy: {directory} is a file; expected a folder")
    directory.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
        fh.write(copy_text(recipe))
    verb = "sweep" if recipe.is_ablation else "run"
    out.print(f"wrote {target} (the shipped recipe {recipe.name}); edit it, then: "
              f"jepa-kit {verb} {target}")


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(show)
    app.command()(schema)
    app.add_typer(recipes_app, name="recipes")
