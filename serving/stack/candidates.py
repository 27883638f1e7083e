"""A candidate version next to the stable one on a running ``yard serve`` stack.

Triton gets the candidate's files in the serving repository (Triton version == MLflow
version) and an explicit load; a second transformer process serves the candidate. The
supervisor has no "add variant" command yet, so that process is started here, in its own
session like the supervisor's children, and recorded (pid + start time) in
``<state_dir>/serving/candidates.json`` so ``retire_candidate`` can stop exactly it.
``LocalCandidates`` is this stack's ``CandidateHost`` for the rollout driver.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from modelyard.artifact.layout import VersionArtifacts
from modelyard.artifact.model_repository import assemble
from modelyard.artifact.triton_config import configure_instances, instance_kind_for_device
from modelyard.errors import DataError, NotFoundError, UnavailableError
from modelyard.fsutil import write_json_atomically
from modelyard.keys import read_key
from modelyard.logs import event
from modelyard.registry import Registry
from modelyard.settings import Settings
from serving.stack.plan import TRITON, ServedModel, _transformer_spec, child_environment, download_version
from serving.stack.ports import plan_ports
from serving.stack.processes import Child, is_same_process, kill_group_if_same
from serving.stack.state import (
    ModelState,
    StackState,
    is_running,
    read_state,
    serving_dir,
    triton_key_path,
)
from serving.triton.server import KEY_HEADER

log = logging.getLogger(__name__)

CANDIDATES_FILE = "candidates.json"
TRITON_TIMEOUT_S = 120.0
READY_POLL_S = 0.5


class CandidateProcess(BaseModel):
    model: str
    version: int
    pid: int
    start_ticks: int | None
    url: str
    log: str


class Candidates(BaseModel):
    candidates: dict[str, CandidateProcess] = {}


class LocalCandidates:
    """Candidates as child processes of this machine, beside a running ``yard serve``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def launch(self, model: str, version: int, keep: list[int]) -> str:
        return launch_candidate(self.settings, model, version, keep)

    def wait_ready(self, model: str, version: int, url: str, timeout_s: float) -> None:
        wait_until_ready(url, model, timeout_s)

    def retire(self, model: str, version: int, keep: list[int]) -> bool:
        return retire_candidate(self.settings, model, version, keep)


def wait_until_ready(url: str, model: str, timeout_s: float) -> None:
    """Block until ``url`` says ``model`` is ready (KServe V2), or UnavailableError."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/v2/models/{model}/ready", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise UnavailableError(
                f"candidate {model} at {url} was not ready within {timeout_s:.0f} s; no traffic was moved",
                hint="read the candidate's log, or raise --ready-timeout",
            )
        time.sleep(READY_POLL_S)


def launch_candidate(settings: Settings, model: str, version: int, keep: list[int]) -> str:
    """Serve ``model`` version ``version`` beside the versions in ``keep`` (those the gateway
    routes: stable, previous); returns the candidate transformer's URL."""
    state, _ = _running_model(settings, model)
    known = _read(settings).candidates.get(_key(model, version))
    if known and is_same_process(known.pid, known.start_ticks):
        return known.url
    registry = Registry(settings)
    artifacts = _artifacts(settings, registry, model, [*keep, version])
    index_candidate(settings, model, version)
    try:
        _serve_in_triton(settings, state, artifacts)
    except DataError:
        # Triton refused the candidate: left in the repository, it would fail Triton's next start.
        _serve_in_triton(settings, state, [a for a in artifacts if a.version != version])
        raise
    resolved = registry.resolve(f"{model}/{version}")
    child = _start_transformer(settings, state, ServedModel(resolved, artifacts[-1]))
    record = CandidateProcess(
        model=model,
        version=version,
        pid=child.pid or 0,
        start_ticks=child.start_ticks,
        url=child.spec.url,
        log=str(child.spec.log_path),
    )
    _write(settings, {**_read(settings).candidates, _key(model, version): record})
    event(log, "candidate_started", model=model, version=version, pid=record.pid, url=record.url)
    return record.url


def retire_candidate(settings: Settings, model: str, version: int, keep: list[int]) -> bool:
    """Stop the candidate process and leave Triton serving only ``keep``; False if it was not ours."""
    known = _read(settings).candidates.get(_key(model, version))
    if known is None:
        return False
    kill_group_if_same(known.pid, known.start_ticks, signal.SIGTERM)
    _write(settings, {key: c for key, c in _read(settings).candidates.items() if key != _key(model, version)})
    state, _ = _running_model(settings, model)
    _serve_in_triton(settings, state, _artifacts(settings, Registry(settings), model, keep))
    event(log, "candidate_retired", model=model, version=version)
    return True


def stop_all_candidates(settings: Settings) -> list[str]:
    """SIGTERM every recorded candidate transformer (``yard serve stop``); returns their keys."""
    stopped = [
        key
        for key, c in _read(settings).candidates.items()
        if kill_group_if_same(c.pid, c.start_ticks, signal.SIGTERM)
    ]
    if _path(settings).is_file():
        _write(settings, {})
    return stopped


def index_candidate(settings: Settings, model: str, version: int) -> None:
    """Build the candidate's own collection (as many catalogue rows as the live one holds), leaving
    the alias on stable: its transformer opens it before it answers ready. A child process does it:
    exiting releases the embedded store's lock before the candidate's transformer opens the
    collection. On Kubernetes the same runs against the cluster's Qdrant (MODELYARD_QDRANT_URL)."""
    # lazy: embeddings loads torch and qdrant-client (seconds); only this path needs it
    from embeddings import VectorStore
    from embeddings.sources import SOURCES

    store = VectorStore.from_settings(settings)
    if model not in SOURCES or store.complete_points(model, version) is not None:
        return
    live = store.live_version(model)
    limit = store.complete_points(model, live) if live is not None else None
    command = [str(Path(sys.executable).parent / "yard"), "index", model, "--version", str(version)]
    command += ["--no-switch", *(["--limit", str(limit)] if limit else [])]
    event(log, "candidate_indexing", model=model, version=version, limit=limit)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DataError(
            f"indexing {model} version {version} for the canary failed: {done.stderr.strip()[-400:]}",
            hint=f"run it by hand to see why: {' '.join(command)}",
        )


def _key(model: str, version: int) -> str:
    return f"{model}/{version}"


def _artifacts(
    settings: Settings, registry: Registry, model: str, versions: list[int]
) -> list[VersionArtifacts]:
    """Each version's files (downloaded once; the stack already holds the stable one's)."""
    root = serving_dir(settings) / "artifacts"
    ordered = list(dict.fromkeys(versions))
    return [download_version(registry, registry.resolve(f"{model}/{v}"), root) for v in ordered]


def _running_model(settings: Settings, model: str) -> tuple[StackState, ModelState]:
    state = read_state(settings)
    if not is_running(state):
        raise UnavailableError("no serving stack is running here", hint="yard serve (or pass --upstream URL)")
    if model not in state.models:
        raise NotFoundError(f"the stack does not serve {model}", hint=f"serving: {', '.join(state.models)}")
    return state, state.models[model]


def _serve_in_triton(settings: Settings, state: StackState, versions: list[VersionArtifacts]) -> None:
    """Write exactly ``versions`` into the serving repository and (re)load them in Triton."""

    repository = Path(state.model_repository)
    triton_url = state.children[TRITON].url
    headers = {KEY_HEADER: read_key(None, triton_key_path(settings), True, "Triton key") or ""}
    for name in assemble(repository, versions):
        configure_instances(repository / name, instance_kind_for_device(settings.device))
        try:
            answer = httpx.post(
                f"{triton_url}/v2/repository/models/{name}/load", headers=headers, timeout=TRITON_TIMEOUT_S
            )
        except httpx.TransportError as exc:
            raise UnavailableError(
                f"Triton at {triton_url} is unreachable: {exc}", hint="yard serve status"
            ) from exc
        if answer.status_code != 200:
            raise DataError(
                f"Triton could not load {name} versions {[v.version for v in versions]}: {answer.text[:300]}",
                hint=f"read {state.children[TRITON].log}",
            )


def _start_transformer(settings: Settings, state: StackState, model: ServedModel) -> Child:
    endpoints = [f"{model.transformer}.http", f"{model.transformer}.grpc"]
    ports = {
        **plan_ports(endpoints, {}, settings.host),
        f"{TRITON}.grpc": state.children[TRITON].ports["grpc"],
    }
    logs = Path(state.logs_dir)
    spec = _transformer_spec(settings, model, ports, child_environment(settings), logs)
    name = f"{spec.name}-v{model.resolved.version}"
    child = Child(dataclasses.replace(spec, name=name, log_path=logs / f"{name}.log"))
    child.start()
    return child


def _path(settings: Settings) -> Path:
    return serving_dir(settings) / CANDIDATES_FILE


def _read(settings: Settings) -> Candidates:
    path = _path(settings)
    return Candidates.model_validate_json(path.read_text()) if path.is_file() else Candidates()


def _write(settings: Settings, candidates: dict[str, CandidateProcess]) -> None:
    write_json_atomically(_path(settings), Candidates(candidates=candidates).model_dump_json(indent=2))
