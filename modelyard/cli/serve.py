"""``yard serve``: run the local stack (Triton, transformers, gateway); ``stop`` and ``status``."""

from __future__ import annotations

import typer
from rich.table import Table

from modelyard.cli.output import console, emit_json, err_console
from modelyard.errors import NotFoundError
from modelyard.settings import get_settings

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
    from serving.stack.control import is_running, stop_stack
    from serving.stack.state import read_state

    settings = get_settings()
    if not is_running(read_state(settings)):
        stop_stack(settings)  # children a killed supervisor left behind, if any
        console.print("no stack is running (leftover processes, if any, are stopped)")
        return
    with err_console.status("draining and stopping the stack"):
        state = stop_stack(settings)
    console.print(f"[green]stopped[/] (supervisor pid {state.supervisor_pid})")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each process: alive, ready, restarts, memory; the served versions."""
    from serving.stack.control import child_health, is_running, supervisor_rss_kib
    from serving.stack.state import read_state

    state = read_state(get_settings())
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
        raise NotFoundError(f"no stack is running (last state: {state.status})", hint="yard serve")
    table = Table("process", "pid", "alive", "ready", "restarts", "RSS MiB", "url", title_justify="left")
    table.title = f"stack {state.status}: {state.gateway_url}"
    for h in health:
        table.add_row(
            h.name,
            str(h.pid),
            _mark(h.alive),
            _mark(h.ready),
            str(h.restarts),
            f"{h.rss_kib / 1024:.0f}",
            h.url,
        )
    console.print(table)
    console.print(f"total RSS (supervisor + every child's process group): {total_kib / 1024:.0f} MiB")
    _print_models(state)


def print_ready(state) -> None:
    """URLs, versions and where the API key is (never the key itself)."""
    console.print(f"[green]ready[/] in {state.ready_seconds} s: gateway [bold]{state.gateway_url}[/]")
    if not state.auth:
        console.print("[yellow]auth is OFF[/] (--no-auth): model routes need no key")
    else:
        where = f"in {state.api_key_file}" if state.api_key_file else "the value of MODELYARD_API_KEY"
        console.print(f"API key: {where} (send it as 'Authorization: Bearer <key>')")
        admin = f"in {state.admin_key_file}" if state.admin_key_file else "the value of MODELYARD_ADMIN_KEY"
        console.print(f"admin key (yard rollout, /admin, /metrics): {admin}")
    _print_models(state)
    console.print(f"logs: {state.logs_dir}")


def _print_models(state) -> None:
    table = Table("model", "version", "alias", "triton models", "transformer", title_justify="left")
    for model in state.models.values():
        triton = ", ".join(f"{name}{versions}" for name, versions in model.triton_models.items())
        transformers = "\n".join([model.upstream_url, *model.replica_urls])
        table.add_row(model.name, str(model.version), model.alias, triton, transformers)
    for name, reason in state.skipped.items():
        table.add_row(name, "-", "-", f"[yellow]not served[/]: {reason}", "-")
    console.print(table)


def _mark(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"
