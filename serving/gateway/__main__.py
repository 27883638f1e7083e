"""``python -m serving.gateway``: start the gateway from a config file and/or ``--route`` flags."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from pydantic import ValidationError

from modelyard import logs
from modelyard.errors import ModelyardError, UsageError, validation_summary
from modelyard.keys import resolve_key
from modelyard.logs import event
from modelyard.settings import get_settings

from .config import GatewayConfig, build_config, read_config_file
from .server import serve

log = logging.getLogger("serving.gateway")
cli = typer.Typer(add_completion=False, help=__doc__)


@cli.command()
def main(
    config: Path | None = typer.Option(None, "--config", help="YAML file: routes, host, port, limits."),
    route: list[str] = typer.Option(
        [], "--route", help="model=url@version; repeat; adds to the file's routes."
    ),
    host: str | None = typer.Option(None, help="Bind address (default: MODELYARD_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default: MODELYARD_GATEWAY_PORT, 8080)."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve model routes WITHOUT an API key."),
    rollouts_source: Path | None = typer.Option(
        None,
        "--rollouts-source",
        help="Follow this rollouts.json read-only (Kubernetes: the mounted rollouts ConfigMap).",
    ),
    allow_upstream: list[str] = typer.Option(
        [],
        "--allow-upstream",
        help="scheme://host[:port] a rollout may route to (repeat), besides the setting.",
    ),
) -> None:
    logs.configure()
    try:
        gateway_config = _resolve(config, route, host, port, no_auth, rollouts_source, allow_upstream)
    except ModelyardError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    serve(gateway_config)


def _resolve(
    config: Path | None,
    routes: list[str],
    host: str | None,
    port: int | None,
    no_auth: bool,
    rollouts_source: Path | None,
    allow_upstreams: list[str],
) -> GatewayConfig:
    settings = get_settings()
    file_data = read_config_file(config) if config else None
    try:
        gateway_config = build_config(
            settings,
            file_data,
            routes,
            host=host,
            port=port,
            auth_enabled=False if no_auth else None,
            rollouts_file=rollouts_source,
            rollouts_readonly=True if rollouts_source else None,
            allowed_upstreams=[*settings.rollout_allowed_upstreams, *allow_upstreams] or None,
        )
    except ValidationError as exc:
        raise UsageError(
            f"invalid gateway config: {validation_summary(exc)}",
            hint="give routes as --route model=url@version or in --config",
        ) from None
    if not gateway_config.auth_enabled:
        event(log, "auth_disabled", logging.WARNING, reason="--no-auth or MODELYARD_AUTH_ENABLED=false")
        return gateway_config
    keys = {}
    for name, configured, key_file in (
        ("api_key", settings.api_key, settings.api_key_file),
        ("admin_key", settings.admin_key, settings.admin_key_file),
    ):
        keys[name] = resolve_key(configured, key_file)
        source = f"MODELYARD_{name.upper()}" if keys[name] is configured else str(key_file)
        event(log, "auth_enabled", key=name, key_source=source)
    return gateway_config.model_copy(update=keys)


if __name__ == "__main__":
    cli()
