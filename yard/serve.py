"""``yard serve``: run the local stack (Triton, transformers, gateway); ``stop`` and ``status``."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.settings import get_settings
from yard.output import console, emit_json, err_console

app = typer.Typer(help="Serve the champions locally behind one authenticated gateway.")


def _models(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    models: str | None = typer.Option(None, "--models", help="Comma-separated subset (default: all three)."),
    port: int | None = typer.Option(
        None,
        "--port",
        min=0,
        max=65535,
        help="Gateway port (default: MODELYARD_GATEWAY_PORT, 8080; 0: any free port).",
    ),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve model routes WITHOUT an API key."),
    detach: bool = typer.Option(False, "--detach", help="Return once ready; stop with `yard serve stop`."),
    ready_timeout: float = typer.Option(180.0, "--ready-timeout", min=1, help="Seconds to wait for ready."),
) -> None:
    """Serve each model's champion: Triton + one transformer per model + the gateway."""
    if ctx.invoked_subcommand is not None:
        return
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from serving.stack.control import start_detached
    from serving.stack.supervisor import ServeOptions, StackSupervisor

    options = ServeOptions(
        models=_models(models),
        gateway_port=port,
        auth=False if no_auth else None,
        ready_timeout_s=ready_timeout,
    )
    settings = get_settings()
    if detach:
        state = start_detached(settings, options)
        print_ready(state)
        console.print("stop it with [bold]yard serve stop[/]")
        return
    supervisor = StackSupervisor(settings, options, err_console)

    def announce(state) -> None:
        print_ready(state)
        console.print("serving; Ctrl-C (or yard serve stop) drains and stops everything")

    raise typer.Exit(supervisor.run_until_signalled(announce))


@app.command()
def stop() -> None:
    """Drain and stop the stack started here (gateway, transformers, then Triton)."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from serving.stack.control import stop_stack
    from serving.stack.state import is_running, read_state, unsupervised_children

    settings = get_settings()
    state = read_state(settings)
    if not is_running(state):
        left = unsupervised_children(state)
        stop_stack(settings)  # stops what a killed supervisor left behind, marks the state stopped
        console.print(
            "no stack is running" + (f"; stopped what it left running: {', '.join(left)}" if left else "")
        )
        return
    with err_console.status("draining and stopping the stack"):
        state = stop_stack(settings)
    console.print(f"[green]stopped[/] (supervisor pid {state.supervisor_pid})")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each process: alive, ready, restarts, memory; the served versions."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from serving.stack.control import child_health, supervisor_rss_kib
    from serving.stack.state import is_running, read_live_state, require_running

    state = read_live_state(get_settings())
    running = is_running(state)
    health = child_health(state) if running else []
    total_kib = supervisor_rss_kib(state) + sum(h.rss_kib for h in health)
    if as_json:
        emit_json(
            {
                "running": running,
                "state": state.model_dump(),
                "children": [h.__dict__ for h in health],
                "rss_kib_total": total_kib,
            }
        )
        return
    if not running:
        require_running(state)  # raises, saying why (stopped, or children left without supervisor)
    console.print(processes_table(state.status, state.gateway_url, health))
    console.print(f"total RSS (supervisor + every child's process group): {total_kib / 1024:.0f} MiB")
    console.print(models_table(state))


def processes_table(status: str, gateway_url: str, health: list) -> Table:
    """One row per process, its URL under its name: 80 columns hold it without cutting a name."""
    table = Table(title=f"stack {status}: {gateway_url}", title_justify="left")
    table.add_column("process / url", no_wrap=True)
    for column in ("pid", "alive", "ready", "restarts", "RSS MiB"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("pid", "RSS MiB") else "left")
    for h in health:
        table.add_row(
            f"{h.name}\n[dim]{h.url}[/]",
            str(h.pid),
            _mark(h.alive),
            _mark(h.ready),
            str(h.restarts),
            f"{h.rss_kib / 1024:.0f}",
        )
    return table


def print_ready(state) -> None:
    """URLs, versions and where the API key is (never the key itself)."""
    console.print(f"[green]ready[/] in {state.ready_seconds} s: gateway [bold]{state.gateway_url}[/]")
    if not state.auth:
        console.print("[yellow]auth is OFF[/] (--no-auth): model routes need no key")
    else:
        where = state.api_key_file or "the value of MODELYARD_API_KEY"
        console.print(f"API key: {where}", highlight=False)
        console.print("  send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'")
        admin = state.admin_key_file or "the value of MODELYARD_ADMIN_KEY"
        console.print(f"admin key (yard rollout, /admin, /metrics): {admin}", highlight=False)
    console.print(models_table(state))
    console.print(f"logs: {state.logs_dir}", highlight=False)


def models_table(state) -> Table:
    """The served versions and the Triton models loaded for each (transformer URLs: serve status)."""
    table = Table("model", "version", "alias", "Triton models (versions)", title_justify="left")
    for column in table.columns[:3]:
        column.no_wrap = True
    for model in state.models.values():
        triton = "\n".join(
            f"{name} {escape(str(versions))}" for name, versions in model.triton_models.items()
        )
        table.add_row(model.name, f"v{model.version}", model.alias, triton)
    for name, reason in state.skipped.items():
        table.add_row(name, "-", "-", f"[yellow]not served[/]: {reason}")
    return table


def _mark(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"
