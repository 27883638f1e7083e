"""Entry point of ``yard``: wires the sub-commands and turns errors into exit codes."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from modelyard import __version__, logs
from modelyard.cli import data as data_cli
from modelyard.cli import demo as demo_cli
from modelyard.cli import index as index_cli
from modelyard.cli import query as query_cli
from modelyard.cli import registry as registry_cli
from modelyard.cli import rollout as rollout_cli
from modelyard.cli import serve as serve_cli
from modelyard.cli import train as train_cli
from modelyard.cli.output import err_console
from modelyard.errors import ModelyardError

app = typer.Typer(
    name="yard",
    help="modelyard: train, version, index and serve the three models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_cli.app, name="data")
app.add_typer(registry_cli.app, name="registry")
app.add_typer(index_cli.app, name="index")
app.add_typer(serve_cli.app, name="serve")
app.add_typer(query_cli.app, name="query")
app.add_typer(rollout_cli.app, name="rollout")
app.add_typer(demo_cli.app, name="demo")
app.add_typer(train_cli.app)  # yard train, yard tune


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """modelyard command line."""
    logs.configure()


def main() -> None:
    """Run ``yard``; a ModelyardError becomes one red line with its fix and its exit code."""
    try:
        # Outside standalone mode click returns a command's `typer.Exit(code)` instead of raising.
        result = app(standalone_mode=False)
    except ModelyardError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            err_console.print(f"[yellow]fix:[/] {escape(exc.hint)}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(result if isinstance(result, int) else 0)
