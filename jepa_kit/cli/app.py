"""The ``jepa-kit`` command line: one typer app, one module per command group.

Exit codes: 0 success, 2 user error (bad recipe, bad flag, missing file), 1 internal error.
User errors print one readable message; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback

import typer
from rich.markup import escape

from jepa_kit import __version__
from jepa_kit.cli.console import err
from jepa_kit.errors import UserError

app = typer.Typer(
    name="jepa-kit",
    help="Joint-embedding predictive architectures: run, validate and study recipes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jepa-kit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for user errors."),
) -> None:
    state["debug"] = debug


def _register_commands() -> None:
    from jepa_kit.cli import compare, data, evaluate, interop, masks, plugins, recipes, run, sweep

    for module in (recipes, plugins, run, sweep, compare, interop, evaluate, masks, data):
        module.register(app)
    from jepa_kit.cli import diagnose

    diagnose.register(app)
    from jepa_kit.cli import plan

    plan.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Outside standalone mode click returns an Exit's code instead of raising it.
        returned = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except UserError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        sys.exit(2)
    except Exception as exc:
        # Usage errors (bad flag, bad value) carry their own message and exit code 2; typer
        # may ship its own copy of click, so they are recognised by shape, not by class.
        code = getattr(exc, "exit_code", None)
        if callable(getattr(exc, "show", None)) and isinstance(code, int):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(code)
        traceback.print_exc()
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}")
        sys.exit(1)
    sys.exit(returned if isinstance(returned, int) else 0)
