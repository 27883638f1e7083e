"""A stack of its own under load: SIGTERM to ``yard serve`` completes the requests in flight with 200,
then every process of the stack exits (no orphan) and the supervisor exits 0; a transformer replica
killed under load is restarted while the other answers, and no request fails.

Not ``served_stack``, which later tests still use: ``yard serve`` in the foreground, so the test's
child is the supervisor and its exit code can be read. It serves moderation only, with two
transformer replicas (Triton, the transformers, the gateway: every kind of child), from a state dir
of its own, reading the champion from the shared stack's registry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.load import Request
from modelyard.settings import Settings
from serving.stack.processes import group_members, is_same_process
from serving.stack.state import StackState, read_state, state_path
from tests.integration.faults import (
    child_pids,
    key_header,
    load_in_background,
    moderation_request,
    require_served,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READY_TIMEOUT_S = 300.0
EXIT_TIMEOUT_S = 120.0
CONCURRENCY = 4
BIG_BODY = {"instances": [{"text": "Buy cheap meds now, limited offer! " * 240}] * 64}
"""64 emails of 8 KB: each request takes long enough (about a second) to be surely in flight when
SIGTERM arrives."""
REPLICA = "transformer-moderation.2"
RESTART_TIMEOUT_S = 120.0
WRITE_MARGIN_S = 0.05
"""Between the last request sent and SIGTERM, so every request was written before the stop began."""


@pytest.fixture
def own_stack(served_stack, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Settings, StackState]]:
    """``yard serve --models moderation`` in the foreground on its own state dir, until ready."""
    require_served(served_stack, "moderation")
    shared = served_stack[0]
    settings = Settings(
        state_dir=tmp_path / "state",
        mlflow_tracking_uri=shared.mlflow_tracking_uri,
        spamassassin_source=shared.spamassassin_source,
        device="cpu",
    )
    env = {
        **os.environ,
        "MODELYARD_STATE_DIR": str(settings.state_dir),
        "MODELYARD_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "MODELYARD_SPAMASSASSIN_SOURCE": str(settings.spamassassin_source),
        "MODELYARD_DEVICE": "cpu",
        "MODELYARD_TRANSFORMER_REPLICAS": '{"moderation": 2}',
    }
    yard = str(Path(sys.executable).parent / "yard")
    command = [
        yard,
        "serve",
        "--models",
        "moderation",
        "--port",
        "0",
        "--ready-timeout",
        str(READY_TIMEOUT_S),
    ]
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield process, settings, wait_ready(process, settings, tmp_path / "serve.log")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=EXIT_TIMEOUT_S)


def wait_ready(process: subprocess.Popen, settings: Settings, log: Path) -> StackState:
    deadline = time.monotonic() + READY_TIMEOUT_S + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"yard serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if state_path(settings).is_file():
            state = read_state(settings)
            if state.supervisor_pid == process.pid and state.status == "ready":
                return state
        time.sleep(0.5)
    pytest.fail(f"yard serve not ready in time:\n{log.read_text()[-3000:]}")


def test_sigterm_under_load_completes_in_flight_requests_then_stops_every_process(own_stack) -> None:
    process, settings, state = own_stack
    pids = {name: child.pid for name, child in state.children.items()}
    assert set(pids) == {"triton", "transformer-moderation", REPLICA, "gateway"}
    origin: list[float] = []

    def big_request(index: int) -> Request:
        if index == 0:  # the load's clock starts with its first request
            origin.append(time.perf_counter())
        return Request("POST", "/v1/models/moderation:predict", json=BIG_BODY)

    with load_in_background(state.gateway_url, big_request, CONCURRENCY, key_header(settings)) as load:
        time.sleep(3.0)
        load.stop.set()  # no request starts after this: every one must complete
        time.sleep(WRITE_MARGIN_S)
        sigterm_at = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=EXIT_TIMEOUT_S)
    result = load.result()

    sigterm_s = sigterm_at - origin[0]
    in_flight = (result.started < sigterm_s) & (result.started + result.latency_ms / 1000 > sigterm_s)
    print(f"SIGTERM with {int(in_flight.sum())} requests in flight; {result.summary()}")
    assert exit_code == 0
    # At least one: the transformer answers the 4 callers' requests interleaved, so completions
    # cluster and how many are open at the SIGTERM varies (CI has seen 1 and 2 of 4).
    assert in_flight.sum() >= 1, "no request was in flight to show the drain"
    assert result.errors == 0, result.failures.most_common(3)
    assert not is_same_process(state.supervisor_pid, state.supervisor_start_ticks)
    assert {name: group_members(pid) for name, pid in pids.items()} == {name: [] for name in pids}
    final = read_state(settings)
    assert final.status == "stopped"
    assert {child.status for child in final.children.values()} == {"stopped"}


def test_a_killed_replica_is_restarted_while_the_other_keeps_answering(own_stack) -> None:
    _, settings, state = own_stack
    first, second = state.models["moderation"].upstream_url, state.models["moderation"].replica_urls[0]
    assert state.children[REPLICA].url == second != first
    before = child_pids(state)

    with load_in_background(state.gateway_url, moderation_request, CONCURRENCY, key_header(settings)) as load:
        time.sleep(2.0)
        killed_at = time.perf_counter()
        os.kill(before[REPLICA], signal.SIGKILL)
        after = wait_until(
            settings,
            lambda s: s.children[REPLICA].restarts == 1 and s.children[REPLICA].status == "ready",
            RESTART_TIMEOUT_S,
        )
        restarted_s = time.perf_counter() - killed_at
        time.sleep(2.0)  # traffic after the restart, to both replicas
    result = load.result()

    print(f"replica killed, ready again after {restarted_s:.1f} s; {result.summary()}")
    assert after.children[REPLICA].restarts == 1 and after.children[REPLICA].status == "ready"
    assert after.children[REPLICA].pid != before[REPLICA]
    assert {n: p for n, p in child_pids(after).items() if n != REPLICA} == {
        n: p for n, p in before.items() if n != REPLICA
    }
    # The gateway resends what the killed process had taken and skips it while it is down.
    assert result.errors == 0, result.failures.most_common(3)
    assert result.requests > 10 * CONCURRENCY
    for url in (first, second):  # the restarted replica counts from zero: it answered since
        assert answered(url) > 0, f"{url} answered no request"


def answered(transformer_url: str) -> float:
    """Requests the transformer at ``transformer_url`` has answered with 200 (its own /metrics)."""
    text = httpx.get(f"{transformer_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("modelyard_transformer_requests_total{") and 'status="ok"' in line
    )
