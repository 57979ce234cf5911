"""``validate``, ``show`` and ``schema``: recipe commands that run nothing."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from jepa_kit.build import method_class
from jepa_kit.cli.options import SetOption
from jepa_kit.recipe import load_recipe, recipe_schema, recipe_to_toml

out = Console(highlight=False, soft_wrap=True)


def validate(
    recipes: list[Path] = typer.Argument(..., help="Recipe files to check."),
    overrides: list[str] = SetOption,
) -> None:
    """Validate recipes against the installed components; exit 2 on the first invalid one."""
    for path in recipes:
        recipe = load_recipe(path, overrides or [])
        parts = ", ".join(f"{getattr(recipe, slot).kind} {slot}"
                          for slot in method_class(recipe).slots)
        out.print(f"[green]ok[/] {path}  ({recipe.method.kind}: {parts})")


def show(
    recipe: Path = typer.Argument(..., help="Recipe file."),
    overrides: list[str] = SetOption,
) -> None:
    """Print the resolved recipe (extends and --set applied, defaults filled in) as TOML."""
    typer.echo(recipe_to_toml(load_recipe(recipe, overrides or [])), nl=False)


def schema(
    method: str = typer.Option("ijepa", "--method", help="The method whose recipe it describes."),
) -> None:
    """Print the JSON Schema of a recipe over the installed components."""
    typer.echo(json.dumps(recipe_schema(method), indent=2))


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(show)
    app.command()(schema)
