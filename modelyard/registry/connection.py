"""Point MLflow at the configured backend and turn its failures into modelyard errors.

MLflow retries an unreachable server for minutes by default (7 retries, backoff 2); a
user at a prompt needs an answer in seconds, so the backend is probed once up front and
the retry budget is cut (both overridable through MLflow's own variables).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from modelyard.errors import NotFoundError, UnavailableError
from modelyard.settings import Settings

# MLflow reads these on every request; setdefault keeps a user's own choice.
_MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
PROBE_TIMEOUT_S = 3.0
URI_HINT = "start the MLflow server or set MODELYARD_MLFLOW_TRACKING_URI (unset: embedded sqlite)"


def apply_mlflow_env_defaults() -> None:
    """Set MLflow's telemetry and retry variables unless the user already did."""
    for name, value in _MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)


# mlflow decides on telemetry when it is imported: this module is imported first by the
# package, so the defaults are in place unless the process imported mlflow before modelyard.
apply_mlflow_env_defaults()


def prepare_backend(settings: Settings) -> str:
    """Make the backend usable and return its URI: create the state folder, or probe the server."""
    uri = settings.mlflow_tracking_uri
    if settings.mlflow_is_embedded:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
    elif uri.startswith(("http://", "https://")):
        probe_server(uri)
    return uri


def probe_server(uri: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail in seconds, with the fix, when the tracking server does not answer ``/health``."""
    try:
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise UnavailableError(f"MLflow tracking server {uri} is unreachable: {exc}", hint=URI_HINT) from exc
    if response.status_code != 200:
        raise UnavailableError(
            f"MLflow tracking server {uri} is unhealthy (HTTP {response.status_code})", hint=URI_HINT
        )


@contextmanager
def mlflow_errors(uri: str) -> Iterator[None]:
    """Translate MLflow's exceptions for a missing object or a lost server."""
    # lazy: mlflow takes seconds to import; only this path needs it
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundError(exc.message, hint="run `yard registry list` to see what exists") from exc
        # MLflow's REST client wraps connection failures in this message (error code INTERNAL_ERROR).
        if str(exc.message).startswith("API request to"):
            raise UnavailableError(f"MLflow at {uri} failed: {exc.message}", hint=URI_HINT) from exc
        raise
