"""``plugins``: what is installed, from which distribution; ``plugins new``: start a plugin.

``jepa-kit plugins`` (with ``--json`` / ``--check``) lists the components; ``jepa-kit plugins new
NAME --kind KIND`` writes a plugin package skeleton (a method from ``--template multiview`` or
``masked``), or with ``--into DIR`` adds the component to an existing plugin distribution (see
``jepa_kit.scaffold``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.registry import GROUPS, iter_entries, registry

out = Console(highlight=False, soft_wrap=True)

plugins_app = typer.Typer(
    name="plugins",
    help="List the installed components, or start a new plugin package.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def rows(check: bool) -> list[dict[str, str]]:
    """One row per registered component; ``check`` imports each and reports failures."""
    found = []
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
        found.append({"kind": entry.kind, "name": entry.name, "class": entry.value,
                      "distribution": entry.distribution, "version": entry.version,
                      "status": status})
    return found


@plugins_app.callback()
def plugins(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    check: bool = typer.Option(
        False, "--check", help="Import every component and report the ones that fail."
    ),
) -> None:
    """List the installed components: kind, name, class, distribution, version."""
    if ctx.invoked_subcommand is not None:
        return
    found = rows(check)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    columns = ["kind", "name", "class", "distribution", "version", *(["status"] if check else [])]
    table = Table(title="jepa-kit components")
    for col in columns:
        # fold, never ellipsise: a listing is read for the full class path and distribution
        table.add_column(col, overflow="fold")
    for row in found:
        table.add_row(*(row[c] for c in columns))
    out.print(table)


@plugins_app.command("new")
def new(
    name: str = typer.Argument(
        ..., help="Component name: the registry key and the recipe's kind (e.g. grid_masker)."
    ),
    kind: str = typer.Option(
        ..., "--kind", help=f"Which interface it implements: {', '.join(GROUPS)}."
    ),
    directory: Path | None = typer.Option(
        None, "--dir", help="Where to write the package (default ./jepa-kit-<name>); must be "
        "missing or empty."
    ),
    into: Path | None = typer.Option(
        None, "--into", help="Add the component to this existing plugin distribution (the "
        "folder of its pyproject.toml) instead of writing a new package."
    ),
    template: str | None = typer.Option(
        None, "--template", help="For --kind method: 'multiview' (default; global views "
        "pulled together, LeJEPA-like) or 'masked' (masked patches predicted from a context "
        "with an EMA target encoder, I-JEPA-like)."
    ),
) -> None:
    """Write a plugin package skeleton that installs and passes its own tests as generated, or
    add a component to an existing plugin distribution (``--into``)."""
    from jepa_kit.scaffold import new_plugin
    from jepa_kit.scaffold.generator import default_directory

    written = new_plugin(name, kind, directory, into=into, template=template)
    if into is None:
        root = directory or default_directory(name)
        out.print(f"wrote {len(written)} files to {root}:")
        for path in written:
            out.print(f"  {path.relative_to(root)}")
        out.print(f"next: pip install -e {root} && pytest {root}")
        return
    out.print(f"added the {kind} {name!r} to {into}:")
    for path in written:
        what = "entry point added" if path.name == "pyproject.toml" else "new"
        out.print(f"  {path.relative_to(into)} ({what})")
    out.print(f"next: pip install -e {into} again (entry points are read when it is installed; "
              f"until then jepa-kit does not see {name!r}) && pytest {into}")


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
