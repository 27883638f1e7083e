"""What the gateway routes where, and the limits it enforces.

A route maps a model name to a list of upstreams (one per deployed version), so a rollout
can hold a stable and a canary upstream for the same model without a schema change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from modelyard.data.fashion_mnist import FashionMNISTSpec
from modelyard.endpoints import AllowedOrigin, BaseUrl, VersionLabel
from modelyard.errors import UsageError
from modelyard.monitor_results import monitor_dir
from modelyard.net import is_loopback
from modelyard.payloads import SinkOptions
from modelyard.settings import Settings

ModelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]


class Upstream(BaseModel):
    """One deployed version of a model: a transformer's REST base URL (and its replicas')."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: BaseUrl
    """Base URL, e.g. ``http://127.0.0.1:8091``; the gateway appends the KServe paths."""

    version: VersionLabel
    """The model version this upstream serves (reported when the upstream does not say)."""

    replicas: tuple[BaseUrl, ...] = ()
    """More base URLs serving the same version: requests go round-robin over ``url`` and these,
    and one that refuses the connection is skipped (a transformer is one process, one core)."""

    @property
    def urls(self) -> tuple[str, ...]:
        """Every base URL serving this version, ``url`` first."""
        return (self.url, *self.replicas)


class GatewayConfig(BaseModel):
    """Everything ``create_app`` needs; built from settings, a config file and CLI flags."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: dict[ModelName, list[Upstream]] = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    auth_enabled: bool = True
    allow_no_auth_on_network: bool = False
    """Auth off is refused on a bind address other machines reach, unless this says so."""
    api_key: SecretStr | None = None
    """The client key (model routes)."""
    admin_key: SecretStr | None = None
    """The admin key (``/admin``, ``/metrics``); never the same as ``api_key``."""
    allowed_upstreams: tuple[AllowedOrigin, ...] = ()
    """Origins (``scheme://host[:port]``) a rollout may route to besides the configured upstreams."""
    docs: bool = False
    """Serve ``/docs``, ``/redoc`` and ``/openapi.json`` (without a key)."""
    console: bool = False
    """Serve the web console at ``/ui/`` (``serving.gateway.console``)."""
    catalogue_dir: Path | None = None
    """The prepared Fashion-MNIST folder the console's thumbnails come from; None or absent: the
    console draws hits without their images."""
    metrics_port: int | None = Field(None, ge=0, le=65535)
    """A second listener serving only ``/metrics``, without a key (Prometheus); None: none."""
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1)
    upstream_timeout_s: float = Field(30.0, gt=0)
    drain_timeout_s: float = Field(20.0, gt=0)
    feedback_dir: Path | None = None
    """Where ``/v1/models/{model}/feedback`` is logged (``serving.gateway.feedback``); None: those
    routes answer 503."""
    feedback_sink: SinkOptions = SinkOptions()
    """The feedback writer's queue size and file rotation."""
    rollouts_file: Path | None = None
    """Where canary/shadow splits are kept across restarts (serving.gateway.rollout); None: memory only."""
    rollouts_readonly: bool = False
    """Follow ``rollouts_file`` written by someone else (Kubernetes: the mounted rollouts
    ConfigMap, written by ``yard rollout --target k8s``); the admin API then refuses changes."""
    monitor_dir: Path | None = None
    """Where ``yard monitor`` writes each model's latest result, exposed on /metrics as the
    ``modelyard_drift`` gauges; None: no drift gauges."""
    rollouts_poll_s: float = Field(2.0, gt=0)
    """Read-only: how often the file is checked for changes (kubelet updates it in place)."""

    @model_validator(mode="after")
    def _auth_off_only_on_loopback(self) -> GatewayConfig:
        refusal = auth_off_refusal(self.auth_enabled, self.host, self.allow_no_auth_on_network)
        if refusal is not None:
            raise ValueError(refusal)
        return self

    @field_validator("routes")
    @classmethod
    def _one_upstream_per_version(cls, routes: dict[str, list[Upstream]]) -> dict[str, list[Upstream]]:
        for model, upstreams in routes.items():
            if not upstreams:
                raise ValueError(f"model {model!r} has no upstream")
            versions = [u.version for u in upstreams]
            if len(set(versions)) != len(versions):
                raise ValueError(f"model {model!r} lists a version twice: {versions}")
        return routes


def auth_off_refusal(auth_enabled: bool, host: str, allowed_on_network: bool) -> str | None:
    """Why auth may not be off on ``host`` (None: it may). Off is for loopback only, unless forced."""
    if auth_enabled or is_loopback(host) or allowed_on_network:
        return None
    return (
        f"auth is off but the gateway would bind {host!r}, which other machines reach: bind 127.0.0.1 "
        "(MODELYARD_HOST), turn auth back on, or, if an authenticating proxy really guards this "
        "address, set MODELYARD_ALLOW_NO_AUTH_ON_NETWORK=true"
    )


def parse_route(spec: str) -> tuple[str, Upstream]:
    """Parse ``model=url[,url...]@version`` (the ``--route`` flag; more URLs are replicas)."""
    model, sep, target = spec.partition("=")
    urls, at, version = target.rpartition("@")
    first, *replicas = (url.strip() for url in urls.split(","))
    if not (sep and at and model and first and version and all(replicas)):
        raise UsageError(
            f"bad route {spec!r}",
            hint="write it as model=url[,url...]@version, e.g. moderation=http://127.0.0.1:8092@3",
        )
    return model.strip(), Upstream(url=first, version=version.strip(), replicas=tuple(replicas))


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML (or JSON) gateway config file into plain data."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(
            f"cannot read gateway config {path}: {exc}", hint="pass a readable YAML file"
        ) from exc
    if not isinstance(data, dict):
        raise UsageError(
            f"gateway config {path} is not a mapping",
            hint="write `routes: {model: [{url: ..., version: ...}]}`",
        )
    for secret in ("api_key", "admin_key"):
        if secret in data:
            variable = f"MODELYARD_{secret.upper()}"
            raise UsageError(
                f"gateway config {path} holds an {secret}", hint=f"set {variable} or {variable}_FILE"
            )
    return data


def build_config(
    settings: Settings,
    file_data: dict[str, Any] | None = None,
    route_specs: list[str] | None = None,
    **overrides: Any,
) -> GatewayConfig:
    """Merge settings < config file < CLI (``route_specs`` add to the file's routes).

    The keys are left unresolved here: ``modelyard.keys`` owns reading or creating them.
    """
    data: dict[str, Any] = {
        "host": settings.host,
        "port": settings.gateway_port,
        "auth_enabled": settings.auth_enabled,
        "allow_no_auth_on_network": settings.allow_no_auth_on_network,
        "allowed_upstreams": settings.rollout_allowed_upstreams,
        "docs": settings.gateway_docs,
        "console": settings.gateway_console,
        "catalogue_dir": settings.data_dir / FashionMNISTSpec.name,
        "metrics_port": settings.gateway_metrics_port,
        "max_body_bytes": settings.max_body_bytes,
        "upstream_timeout_s": settings.upstream_timeout_s,
        "drain_timeout_s": settings.drain_timeout_s,
        "rollouts_file": settings.state_dir / "serving" / "rollouts.json",
        "monitor_dir": monitor_dir(settings),
        "feedback_dir": settings.feedback_dir,
        "feedback_sink": SinkOptions.from_settings(settings),
        **(file_data or {}),
    }
    routes: dict[str, list[Any]] = {name: list(ups) for name, ups in (data.get("routes") or {}).items()}
    for spec in route_specs or []:
        model, upstream = parse_route(spec)
        routes.setdefault(model, []).append(upstream)
    data["routes"] = routes
    data.update({key: value for key, value in overrides.items() if value is not None})
    return GatewayConfig.model_validate(data)
