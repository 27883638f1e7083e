"""What the gateway routes where, and the limits it enforces.

A route maps a model name to a list of upstreams (one per deployed version), so a rollout
can hold a stable and a canary upstream for the same model without a schema change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator

from modelyard.errors import UsageError
from modelyard.settings import Settings

ModelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]


class Upstream(BaseModel):
    """One deployed version of a model: a transformer's REST base URL (and its replicas')."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    """Base URL, e.g. ``http://127.0.0.1:8091``; the gateway appends the KServe paths."""

    version: str = Field(min_length=1, max_length=64)
    """The model version this upstream serves (reported when the upstream does not say)."""

    replicas: tuple[str, ...] = ()
    """More base URLs serving the same version: requests go round-robin over ``url`` and these,
    and one that refuses the connection is skipped (a transformer is one process, one core)."""

    @field_validator("url")
    @classmethod
    def _http_base_url(cls, url: str) -> str:
        return _base_url(url)

    @field_validator("replicas")
    @classmethod
    def _http_base_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_base_url(url) for url in urls)

    @property
    def urls(self) -> tuple[str, ...]:
        """Every base URL serving this version, ``url`` first."""
        return (self.url, *self.replicas)


def _base_url(url: str) -> str:
    AnyHttpUrl(url)  # validates scheme and host, keeps the string as written
    return url.rstrip("/")


class GatewayConfig(BaseModel):
    """Everything ``create_app`` needs; built from settings, a config file and CLI flags."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: dict[ModelName, list[Upstream]] = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    auth_enabled: bool = True
    api_key: SecretStr | None = None
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1)
    upstream_timeout_s: float = Field(30.0, gt=0)
    drain_timeout_s: float = Field(20.0, gt=0)
    rollouts_file: Path | None = None
    """Where canary/shadow splits are kept across restarts (serving.rollout); None: memory only."""
    rollouts_readonly: bool = False
    """Follow ``rollouts_file`` written by someone else (Kubernetes: the mounted rollouts
    ConfigMap, written by ``yard rollout --target k8s``); the admin API then refuses changes."""
    rollouts_poll_s: float = Field(2.0, gt=0)
    """Read-only: how often the file is checked for changes (kubelet updates it in place)."""

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
    if "api_key" in data:
        raise UsageError(
            f"gateway config {path} holds an api_key", hint="set MODELYARD_API_KEY or MODELYARD_API_KEY_FILE"
        )
    return data


def build_config(
    settings: Settings,
    file_data: dict[str, Any] | None = None,
    route_specs: list[str] | None = None,
    **overrides: Any,
) -> GatewayConfig:
    """Merge settings < config file < CLI (``route_specs`` add to the file's routes).

    The API key is left unresolved here: ``auth.resolve_api_key`` owns reading or creating it.
    """
    data: dict[str, Any] = {
        "host": settings.host,
        "port": settings.gateway_port,
        "auth_enabled": settings.auth_enabled,
        "max_body_bytes": settings.max_body_bytes,
        "upstream_timeout_s": settings.upstream_timeout_s,
        "drain_timeout_s": settings.drain_timeout_s,
        "rollouts_file": settings.state_dir / "serving" / "rollouts.json",
        **(file_data or {}),
    }
    routes: dict[str, list[Any]] = {name: list(ups) for name, ups in (data.get("routes") or {}).items()}
    for spec in route_specs or []:
        model, upstream = parse_route(spec)
        routes.setdefault(model, []).append(upstream)
    data["routes"] = routes
    data.update({key: value for key, value in overrides.items() if value is not None})
    return GatewayConfig.model_validate(data)
