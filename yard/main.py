"""Entry point of ``yard``: wires the sub-commands and turns errors into exit codes."""

from __future__ import annotations

import difflib
import sys

import typer
from rich.markup import escape
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption

from modelyard import __version__, logs
from modelyard.errors import ModelyardError
from yard import data as data_cli
from yard import demo as demo_cli
from yard import index as index_cli
from yard import monitor as monitor_cli
from yard import query as query_cli
from yard import registry as registry_cli
from yard import retrain as retrain_cli
from yard import rollout as rollout_cli
from yard import serve as serve_cli
from yard import simulate as simulate_cli
from yard import train as train_cli
from yard.output import err_console

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
app.add_typer(monitor_cli.app)  # yard monitor
app.add_typer(retrain_cli.app)  # yard retrain
app.add_typer(simulate_cli.app)  # yard simulate


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    log_format: logs.LogFormat = typer.Option(
        "auto",
        "--log-format",
        envvar="MODELYARD_LOG_FORMAT",
        help="auto: warnings only on a terminal (commands print their own progress), JSON lines "
        "otherwise; json; text (time, level, event, key=value).",
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log INFO events, libraries' warnings and their progress bars."
    ),
) -> None:
    """modelyard command line."""
    logs.configure(log_format=log_format, verbose=verbose, interactive=True)


def main() -> None:
    """Run ``yard``; an error becomes one red line with its fix and its exit code, never a traceback."""
    try:
        # Outside standalone mode click returns a command's `typer.Exit(code)` instead of raising.
        result = app(standalone_mode=False)
    except ModelyardError as exc:
        _print_error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except NoArgsIsHelpError:
        sys.exit(0)  # `yard` or a group alone: its help is already printed, as kubectl and helm do
    except ClickException as exc:  # typer's own click: an unknown command or flag, a bad value
        _print_error(_usage_message(exc), _usage_hint(exc))
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)


def _print_error(message: str, hint: str | None) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        err_console.print(f"[yellow]fix:[/] {escape(hint)}")


def _usage_message(exc: ClickException) -> str:
    """Click's message, with the closest flag named when the flag was mistyped."""
    if isinstance(exc, NoSuchOption):  # click lists every option; name the one that was meant
        close = difflib.get_close_matches(exc.option_name, exc.possibilities or [], n=1)
        return f"No such option: {exc.option_name}." + (f" Did you mean {close[0]}?" if close else "")
    return exc.format_message()


def _usage_hint(exc: ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    command = " ".join(["yard", *ctx.command_path.split()[1:]]) if ctx is not None else "yard"
    return f"{command} --help"
