"""``plugins``: what is installed, from which distribution."""

from __future__ import annotations

import json
import warnings

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.registry import iter_entries, registry

out = Console(highlight=False, soft_wrap=True)


def plugins(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    check: bool = typer.Option(
        False, "--check", help="Import every component and report the ones that fail."
    ),
) -> None:
    """List the installed components: kind, name, class, distribution, version."""
    rows = []
    for entry in iter_entries():
        status = "listed"
        if check:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    registry(entry.kind).load(entry.name)
                    status = "ok"
                except ValueError as exc:
                    status = f"broken: {exc}"
        rows.append({"kind": entry.kind, "name": entry.name, "class": entry.value,
                     "distribution": entry.distribution, "version": entry.version,
                     "status": status})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    columns = ["kind", "name", "class", "distribution", "version", *(["status"] if check else [])]
    table = Table(title="jepa-kit components")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(plugins)
