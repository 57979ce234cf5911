"""Options shared by several commands."""

from __future__ import annotations

import typer

SetOption = typer.Option(
    None, "--set", "-s", metavar="KEY=VALUE",
    help="Override a recipe field, e.g. --set train.epochs=10 (value parsed as TOML).",
)
