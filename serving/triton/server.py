"""Run a real ``tritonserver`` on a model repository, as a child process we own.

The server binds loopback by default, serves HTTP, gRPC and Prometheus metrics on three
ports, and (in ``explicit`` mode) loads and unloads models through its repository API, which,
like the other APIs that change the server, needs ``KEY_HEADER`` (``RESTRICTED_APIS``).
Every failure names its cause from Triton's own log and the fix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Literal

from modelyard.artifact.layout import list_models
from modelyard.artifact.triton_config import configure_instances, instance_kind_for_device
from modelyard.errors import DataError, NotFoundError, UnavailableError, UsageError
from modelyard.logs import event
from modelyard.net import client_host, is_port_free
from modelyard.settings import Settings, get_settings
from serving.triton.installation import (
    TritonInstallation,
    find_installation,
    prepare_backend_directory,
    server_environment,
)

log = logging.getLogger(__name__)

ModelControl = Literal["explicit", "none"]
KEY_HEADER = "x-modelyard-triton-key"
"""The header Triton's restricted APIs require (lower case: gRPC metadata keys are)."""
RESTRICTED_APIS = ("model-repository", "shared-memory", "logging", "trace")
"""Triton APIs that change the server (load or unload models, with file and config overrides;
register shared-memory regions of other processes; log and trace settings and files): only a
caller with the key may use them. Health, metadata, model config, statistics and inference stay
open (the transformers call inference). Checked against tritonserver 2.51 (nvidia-pytriton 0.7)."""
LOAD_TIMEOUT_S = 300.0
EXIT_TIMEOUT_S = 10
STUB_TIMEOUT_S = 120
"""How long the python backend waits for a model's stub process to start (Triton's default: 30 s).
A stub imports torch; five starting at once on a loaded 2-core machine took longer, the backend
killed them while they held a shared-memory mutex, and tritonserver aborted on the next lock
(boost lock_exception, seen in CI at load average 30)."""
_CAUSE_CHARS = 400
# Triton's model_lifecycle line, e.g. "failed to load 'm' version 1: Internal: RuntimeError: ..."
_MODEL_FAILURE = re.compile(r"(failed to load '[^']+' version \d+: [^\\]*)")


def build_command(
    binary: Path,
    model_repository: Path,
    backend_directory: Path,
    *,
    host: str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    model_control: ModelControl,
    load_models: list[str] | None,
    restricted_key: str,
) -> list[str]:
    """The ``tritonserver`` argv; ``load_models=None`` loads every model (explicit mode).

    ``restricted_key``: the value of ``KEY_HEADER`` the ``RESTRICTED_APIS`` require, on HTTP and
    gRPC. tritonserver takes it only as an argument, so local users who can list processes can
    read it; it keeps out callers over the network, from other containers or pods, and from a
    browser (a custom header cannot be sent cross-site without CORS, which Triton does not grant).
    """
    if model_control not in ("explicit", "none"):
        raise UsageError(f"model control {model_control!r} is unknown", hint="use 'explicit' or 'none'")
    command = [
        str(binary),
        f"--model-repository={model_repository}",
        f"--backend-directory={backend_directory}",
        f"--model-control-mode={model_control}",
        f"--http-address={host}",
        f"--http-port={http_port}",
        f"--grpc-address={host}",
        f"--grpc-port={grpc_port}",
        "--allow-metrics=true",
        f"--metrics-address={host}",
        f"--metrics-port={metrics_port}",
        "--allow-gpu-metrics=false",
        # Our configs are complete: skip the extra stub launch that auto-completion costs.
        "--disable-auto-complete-config",
        f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
        # The python backend names its shared-memory regions with this prefix; the default is the
        # same for every server, and two servers on one host (a test stack beside a benchmark, a
        # rollout's second stack) then crashed loading models (boost lock_exception).
        f"--backend-config=python,shm-region-prefix-name=modelyard_{grpc_port}_",
        f"--backend-config=python,stub-timeout-seconds={STUB_TIMEOUT_S}",
        *restricted_api_args(restricted_key),
    ]
    if model_control == "explicit":
        command += [f"--load-model={name}" for name in (["*"] if load_models is None else load_models)]
    return command


def restricted_api_args(key: str) -> list[str]:
    """tritonserver flags that put ``RESTRICTED_APIS`` behind ``KEY_HEADER: key``."""
    setting = f"{','.join(RESTRICTED_APIS)}:{KEY_HEADER}={key}"
    return [f"--http-restricted-api={setting}", f"--grpc-restricted-protocol={setting}"]


class TritonServer:
    """One ``tritonserver`` process over one model repository.

    ``instance_kind`` (default: from ``settings.device``) and ``instance_count`` are
    written into each model's ``instance_group`` before it loads, so CPU/GPU is chosen
    at serve time, not at export time. ``restricted_key`` (default: a new random one) guards the
    repository API and the others in ``RESTRICTED_APIS``; ``load_model`` sends it.
    """

    def __init__(
        self,
        model_repository: Path,
        *,
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        host: str | None = None,
        model_control: ModelControl = "explicit",
        load_models: list[str] | None = None,
        log_dir: Path | None = None,
        instance_kind: str | None = None,
        instance_count: int | None = None,
        settings: Settings | None = None,
        installation: TritonInstallation | None = None,
        restricted_key: str | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.model_repository = Path(model_repository).resolve()
        self.host = host or self.settings.host
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.model_control = model_control
        self.load_models = load_models
        self.instance_kind = instance_kind or instance_kind_for_device(self.settings.device)
        self.instance_count = instance_count
        self.triton_dir = self.settings.state_dir / "triton"
        self.log_path = (log_dir or self.triton_dir / "logs") / f"tritonserver-{http_port}.log"
        self._installation = installation
        self.restricted_key = restricted_key or secrets.token_urlsafe(32)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def restricted_headers(self) -> dict[str, str]:
        """What a call to one of ``RESTRICTED_APIS`` must carry."""
        return {KEY_HEADER: self.restricted_key}

    @property
    def url(self) -> str:
        """HTTP/REST (KServe v2 protocol) base URL."""
        return f"http://{client_host(self.host)}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` for ``tritonclient.grpc``."""
        return f"{client_host(self.host)}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{client_host(self.host)}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> TritonServer:
        """Launch the process (returns at once; call ``wait_ready``)."""
        if self.is_running():
            return self
        if not self.model_repository.is_dir():
            raise NotFoundError(
                f"model repository {self.model_repository} does not exist",
                hint="export a model first (yard train) or pass the right --repository",
            )
        for port in (self.http_port, self.grpc_port, self.metrics_port):
            _require_free(self.host, port)
        installation = self._installation or find_installation()
        for name in self._models_to_configure():
            configure_instances(self.model_repository / name, self.instance_kind, self.instance_count)
        command = build_command(
            installation.binary,
            self.model_repository,
            prepare_backend_directory(installation, self.triton_dir / "backends"),
            host=self.host,
            http_port=self.http_port,
            grpc_port=self.grpc_port,
            metrics_port=self.metrics_port,
            model_control=self.model_control,
            load_models=self.load_models,
            restricted_key=self.restricted_key,
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            # Own session: stop() can reach the python-backend stubs through the group.
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=server_environment(installation, dict(os.environ)),
                start_new_session=True,
            )
        event(
            log, "triton_started", pid=self._process.pid, url=self.url, repository=str(self.model_repository)
        )
        return self

    def wait_ready(self, timeout: float = 120.0) -> TritonServer:
        """Block until ``/v2/health/ready`` (every loaded model READY) or raise with the log's cause."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise self._failure("tritonserver exited before it was ready")
            if self._get("/v2/health/ready") == 200:
                event(log, "triton_ready", url=self.url)
                return self
            time.sleep(0.2)
        raise self._failure(f"tritonserver was not ready within {timeout:.0f} s")

    def stop(self, timeout: float = EXIT_TIMEOUT_S + 5) -> int | None:
        """SIGTERM (Triton drains in-flight requests), then SIGKILL the group; returns the exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _kill_leftover_group(process.pid)
        event(log, "triton_stopped", pid=process.pid, returncode=process.returncode)
        return process.returncode

    def wait(self) -> int:
        """Block until the process exits on its own; returns its exit code."""
        if self._process is None:
            raise UsageError("tritonserver is not started", hint="call start() first")
        return self._process.wait()

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def is_model_ready(self, name: str, version: int | str | None = None) -> bool:
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version is not None else "") + "/ready"
        return self._get(path) == 200

    def load_model(self, name: str) -> None:
        """Load (or reload, after a new version was written) a model; explicit mode only."""
        self._require_explicit("load")
        if not (self.model_repository / name / "config.pbtxt").is_file():
            raise NotFoundError(
                f"model {name!r} is not in {self.model_repository}",
                hint=f"choose one of {list_models(self.model_repository)}",
            )
        configure_instances(self.model_repository / name, self.instance_kind, self.instance_count)
        status, body = self._post(f"/v2/repository/models/{name}/load")
        if status != 200:
            raise DataError(
                f"Triton could not load model {name!r}: {_error_text(body)}",
                hint=f"read {self.log_path}; check {self.model_repository / name}/config.pbtxt and model.pt",
            )
        event(log, "triton_model_loaded", model=name)

    def unload_model(self, name: str) -> None:
        """Unload every version of a model; explicit mode only."""
        self._require_explicit("unload")
        status, body = self._post(f"/v2/repository/models/{name}/unload")
        if status != 200:
            raise NotFoundError(
                f"Triton could not unload {name!r}: {_error_text(body)}", hint="list loaded models"
            )
        event(log, "triton_model_unloaded", model=name)

    def __enter__(self) -> TritonServer:
        try:
            return self.start().wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _models_to_configure(self) -> list[str]:
        if self.model_control == "explicit" and self.load_models is not None:
            return [name for name in self.load_models if (self.model_repository / name).is_dir()]
        return list_models(self.model_repository)

    def _require_explicit(self, action: str) -> None:
        if self.model_control != "explicit":
            raise UsageError(
                f"cannot {action} models in {self.model_control!r} mode", hint="use model_control='explicit'"
            )

    def _get(self, path: str) -> int | None:
        try:
            return _request("GET", self.url + path, timeout=2.0)[0]
        except OSError:
            return None

    def _post(self, path: str) -> tuple[int, str]:
        try:
            return _request("POST", self.url + path, timeout=LOAD_TIMEOUT_S, headers=self.restricted_headers)
        except OSError as error:
            raise UnavailableError(
                f"Triton at {self.url} did not answer: {error}", hint=f"is it running? read {self.log_path}"
            ) from error

    def _failure(self, what: str) -> UnavailableError | DataError:
        """Stop the process and turn its log into the error: a model's own failure first."""
        self.stop()
        lines = _log_lines(self.log_path)
        model_errors = [
            match.group(1)[:_CAUSE_CHARS] for line in lines if (match := _MODEL_FAILURE.search(line))
        ]
        if model_errors:
            return DataError(
                f"{what}: " + "; ".join(model_errors),
                hint=f"fix the model in {self.model_repository}; full log: {self.log_path}",
            )
        cause = next((line for line in reversed(lines) if _is_cause(line)), "no error in its log")
        return UnavailableError(f"{what}: {cause[:_CAUSE_CHARS]}", hint=f"read {self.log_path}")


def _require_free(host: str, port: int) -> None:
    if not is_port_free(host, port):
        raise UnavailableError(
            f"port {port} on {host} is busy",
            hint="stop whatever listens there or pick other --http-port/--grpc-port/--metrics-port",
        )


def _kill_leftover_group(pgid: int) -> None:
    """Stubs normally exit with the server; make sure none outlives it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.is_file() else []


def _is_cause(line: str) -> bool:
    lowered = line.strip().lower()
    return (
        lowered.startswith(("error:", "terminate called", "what():"))
        or "failed to" in lowered
        or "address already in use" in lowered
    )


def _request(method: str, url: str, timeout: float, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of a small call to Triton's REST API (stdlib: no per-poll log lines)."""
    data = b"" if method == "POST" else None
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _error_text(body: str) -> str:
    """Triton answers errors as ``{"error": "..."}``."""
    try:
        return str(json.loads(body).get("error", body))
    except (ValueError, AttributeError):
        return body
