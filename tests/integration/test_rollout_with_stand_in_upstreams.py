"""Rollouts end to end with stand-in upstreams: the real gateway process, three real upstream
processes, real MLflow (embedded sqlite), and the real ``yard rollout`` CLI.

The upstreams are stand-ins (``rollout_upstream``), not transformers: these tests need model
versions that are healthy, erroring or slow on cue, which real models are not. Everything
else is the production code path: the gateway's split and admin API, rollouts.json, the
registry's aliases, the progressive analysis reading the gateway's /metrics.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mlflow
import pytest

from modelyard.registry import Registry
from modelyard.settings import Settings
from tests.integration.conftest import free_loopback_port
from tests.integration.test_gateway_process import stop, wait_until_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "moderation"
API_KEY = "rollout-test-key-0123456789"
YARD = str(Path(sys.executable).parent / "yard")
LOAD_WORKERS = 6
LOAD_LIMIT_S = 840.0
"""The load loop stops by itself after this long, whatever happens to the test."""


@dataclass
class Stack:
    state_dir: Path
    gateway_url: str
    gateway_command: list[str]
    gateway_log: Path
    upstreams: dict[str, str]
    env: dict[str, str]
    gateway: subprocess.Popen | None = None
    others: list[subprocess.Popen] = field(default_factory=list)

    def start_gateway(self) -> None:
        with self.gateway_log.open("ab") as log:
            self.gateway = subprocess.Popen(
                self.gateway_command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        wait_until_up(f"{self.gateway_url}/v2/health/live", self.gateway)

    def yard(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [YARD, "rollout", *args, "--gateway", self.gateway_url]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=300, check=False)

    def status(self) -> dict:
        done = self.yard("status", MODEL, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def register_versions(state_dir: Path, count: int) -> None:
    """``count`` versions of the model in a real (embedded) MLflow; version 1 is champion."""
    registry = Registry(Settings(state_dir=state_dir, mlflow_tracking_uri=None, mlflow_artifact_root=None))
    for number in range(1, count + 1):
        weights = state_dir / f"weights-{number}"
        weights.mkdir()
        (weights / "model.txt").write_text(f"stand-in version {number}")
        with registry.start_run(MODEL, params={"n": number}, dataset_digest="sha256:stand-in") as run:
            mlflow.log_metric("roc_auc", 0.9)
            mlflow.log_artifacts(str(weights), "model")
        registry.register(run.info.run_id, "model", MODEL, description=f"stand-in {number}")
    registry.set_alias(MODEL, "champion", 1)


def start_upstream(version: str, *flags: str) -> tuple[subprocess.Popen, str]:
    port = free_loopback_port()
    command = [
        sys.executable,
        "-m",
        "tests.integration.rollout_upstream",
        "--port",
        str(port),
        "--version",
        version,
    ]
    process = subprocess.Popen([*command, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/v2/health/ready", process)
    return process, url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("rollout-state")
    register_versions(state_dir, 4)
    processes, urls = [], {}
    for version, flags in {
        "1": (),
        "2": (),
        "3": ("--error-rate", "0.5"),
        "4": ("--delay-ms", "2000"),  # far beyond stable's p99 even on a loaded machine
    }.items():
        process, urls[version] = start_upstream(version, *flags)
        processes.append(process)
    port = free_loopback_port()
    env = {
        **os.environ,
        "MODELYARD_STATE_DIR": str(state_dir),
        "MODELYARD_API_KEY": API_KEY,
        # yard rollout sends the admin key the gateway writes to the state dir; the candidates
        # are stand-ins on loopback ports, which the rollout allow-list must admit.
        "MODELYARD_ROLLOUT_ALLOWED_UPSTREAMS": '["http://127.0.0.1"]',
        "MODELYARD_LOG_FORMAT": "json",
        "MODELYARD_MLFLOW_TRACKING_URI": "",
    }
    env.pop("MODELYARD_MLFLOW_TRACKING_URI")
    command = [
        sys.executable, "-m", "serving.gateway", "--port", str(port), "--route", f"{MODEL}={urls['1']}@1",
    ]  # fmt: skip
    stack = Stack(state_dir, f"http://127.0.0.1:{port}", command, state_dir / "gateway.log", urls, env)
    stack.others = processes
    stack.start_gateway()
    try:
        yield stack
    finally:
        for process in [stack.gateway, *processes]:
            if process is not None:
                stop(process)


class Load:
    """Concurrent callers on loopback until stopped (or LOAD_LIMIT_S): every answer recorded."""

    def __init__(self, url: str, users: list[str], workers: int = LOAD_WORKERS) -> None:
        self.url, self.users = url, users
        self.answers: list[tuple[str, int, str | None]] = []
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_LIMIT_S
        headers = {"x-api-key": API_KEY}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                user = random.choice(self.users)
                body = {"instances": [{"text": f"message from {user}"}]}
                try:
                    answer = client.post(
                        f"/v1/models/{MODEL}:predict", json=body, headers={"x-user-id": user}
                    )
                    outcome = (user, answer.status_code, answer.headers.get("x-modelyard-version"))
                except httpx.HTTPError as exc:
                    outcome = (user, 0, type(exc).__name__)
                with self.lock:
                    self.answers.append(outcome)

    def mark(self) -> int:
        with self.lock:
            return len(self.answers)

    def since(self, mark: int) -> list[tuple[str, int, str | None]]:
        """Answers recorded after ``mark``, less those that may have been sent before it."""
        with self.lock:
            return self.answers[mark + LOAD_WORKERS :]


def wait_for_requests(load: Load, count: int) -> None:
    start = load.mark()
    deadline = time.monotonic() + 120
    while load.mark() - start < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert load.mark() - start >= count, f"only {load.mark() - start} of {count} requests in 120 s"


def test_split_stickiness_and_zero_failures_through_start_step_promote_rollback(stack: Stack) -> None:
    users = [f"user-{i}" for i in range(400)]
    with Load(stack.gateway_url, users) as load:
        wait_for_requests(load, 100)
        started = stack.yard(
            "start", MODEL, "--version", "2", "--percent", "25", "--upstream", stack.upstreams["2"]
        )
        assert started.returncode == 0, started.stderr
        mark = load.mark()
        wait_for_requests(load, 800)
        at_25 = load.since(mark)
        share = sum(version == "2" for _, _, version in at_25) / len(at_25)
        # Users, not requests, are split: the tolerance is that of 400 users.
        assert abs(share - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(users)), share
        by_user: dict[str, set[str | None]] = {}
        for user, _, version in at_25:
            by_user.setdefault(user, set()).add(version)
        assert all(len(versions) == 1 for versions in by_user.values())  # sticky

        assert stack.yard("set", MODEL, "--percent", "60").returncode == 0
        wait_for_requests(load, 300)
        status = stack.status()
        assert status["rollout"]["percent"] == 60
        figures = {v["role"]: v for v in status["variants"]}
        assert figures["canary"]["requests"] > 0 and figures["canary"]["p99_ms"] is not None

        promoted = stack.yard("promote", MODEL, "--json")
        assert promoted.returncode == 0, promoted.stderr
        assert json.loads(promoted.stdout)["aliases"] == {"champion": 2, "previous": 1}
        mark = load.mark()
        wait_for_requests(load, 300)
        assert {version for _, _, version in load.since(mark)} == {"2"}

        rolled_back = stack.yard("rollback", MODEL, "--reason", "test rollback")
        assert rolled_back.returncode == 0, rolled_back.stderr
        mark = load.mark()
        wait_for_requests(load, 300)
        assert {version for _, _, version in load.since(mark)} == {"1"}
    failures = Counter(status for _, status, _ in load.answers if status != 200)
    assert not failures, failures
    registry = Registry(
        Settings(state_dir=stack.state_dir, mlflow_tracking_uri=None, mlflow_artifact_root=None)
    )
    assert registry.resolve(f"{MODEL}@champion").version == 1


def test_the_split_survives_a_gateway_restart(stack: Stack) -> None:
    assert (
        stack.yard(
            "start", MODEL, "--version", "2", "--percent", "30", "--upstream", stack.upstreams["2"]
        ).returncode
        == 0
    )
    stop(stack.gateway)
    stack.start_gateway()
    status = stack.status()
    assert status["rollout"]["percent"] == 30 and status["rollout"]["canary"]["version"] == 2
    assert stack.yard("rollback", MODEL).returncode == 0


@pytest.mark.parametrize(
    ("version", "failed_check"), [("3", "error rate"), ("4", "p99")], ids=["erroring", "slow"]
)
def test_auto_rolls_back_a_bad_candidate_and_says_why(stack: Stack, version: str, failed_check: str) -> None:
    users = [f"auto-{i}" for i in range(300)]
    with Load(stack.gateway_url, users, workers=12):  # the slow candidate holds callers for 2 s
        time.sleep(1)
        done = stack.yard(
            "start", MODEL, "--version", version, "--upstream", stack.upstreams[version],
            "--steps", "50,100", "--interval", "6s", "--auto", "--min-requests", "10",
        )  # fmt: skip
    assert done.returncode == 6, done.stdout + done.stderr
    assert "rolled back" in done.stderr and failed_check in done.stderr  # the error line and its fix
    status = stack.status()
    assert status["rollout"]["phase"] == "rolled_back" and status["rollout"]["canary"] is None
    assert failed_check in status["rollout"]["reason"]
    assert status["rollout"]["stable"]["version"] == 1
    logged = [json.loads(line) for line in stack.gateway_log.read_text().splitlines() if line.startswith("{")]
    changes = [e for e in logged if e.get("event") == "rollout_changed" and e.get("phase") == "rolled_back"]
    assert failed_check in changes[-1]["reason"]


def test_shadow_compares_without_serving_the_candidate(stack: Stack) -> None:
    started = stack.yard("start", MODEL, "--version", "2", "--shadow", "--upstream", stack.upstreams["2"])
    assert started.returncode == 0, started.stderr
    with Load(stack.gateway_url, [f"shadow-{i}" for i in range(50)]) as load:
        wait_for_requests(load, 200)
    assert {version for _, _, version in load.answers} == {"1"}
    deadline = time.monotonic() + 60
    while True:  # copies finish after their callers were answered
        figures = {v["role"]: v for v in stack.status()["variants"]}
        if figures["canary"]["requests"] >= 0.9 * len(load.answers) or time.monotonic() > deadline:
            break
    assert figures["canary"]["source"] == "shadow"
    assert figures["canary"]["requests"] >= 0.9 * len(load.answers) and figures["canary"]["errors"] == 0
    assert figures["canary"]["agreement"] == 1.0  # the stand-ins decide the same way
    assert stack.yard("rollback", MODEL).returncode == 0


def test_auto_promotes_a_healthy_candidate(stack: Stack) -> None:
    # Both variants are the same program: their p99s differ only by this shared 2-core machine's
    # noise, so the latency margin is wide here (the slow-candidate test proves it still bites).
    with Load(stack.gateway_url, [f"good-{i}" for i in range(300)], workers=12):
        time.sleep(1)
        done = stack.yard(
            "start", MODEL, "--version", "2", "--upstream", stack.upstreams["2"],
            "--steps", "50,100", "--interval", "6s", "--auto", "--min-requests", "10",
            "--p99-margin", "3", "--json",
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["passed"] and result["aliases"]["champion"] == 2
    assert result["rollout"]["phase"] == "promoted" and result["rollout"]["stable"]["version"] == 2
