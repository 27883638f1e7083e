"""Triton killed under load on the shared stack (``served_stack``): the transformers answer 503 with
a message naming Triton, no request hangs, the supervisor restarts Triton alone and traffic recovers.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import numpy as np
import pytest

from serving.stack.processes import group_members
from serving.stack.state import read_state
from tests.integration.faults import (
    child_pids,
    key_header,
    load_in_background,
    moderation_request,
    require_served,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONCURRENCY = 4
RECOVERY_TIMEOUT_S = 180.0
REQUEST_LIMIT_S = 10.0
"""During the outage an answer must come fast (a 503), not at the gateway's 30 s timeout."""
SETTLED_S = 5.0
"""Load kept on this long after traffic is back: every answer of that stretch must be 200."""


def test_a_killed_triton_is_restarted_alone_and_traffic_recovers_under_load(served_stack) -> None:
    settings, _, _ = served_stack
    require_served(served_stack, "moderation")
    before = read_state(settings)
    triton = before.children["triton"]
    others = {name: pid for name, pid in child_pids(before).items() if name != "triton"}
    headers = key_header(settings)
    with load_in_background(before.gateway_url, moderation_request, CONCURRENCY, headers) as load:
        time.sleep(2.0)
        os.kill(triton.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        after = wait_until(
            settings,
            lambda s: s.status == "ready" and s.children["triton"].pid != triton.pid,
            RECOVERY_TIMEOUT_S,
        )
        recovered_s = wait_for_answer(before.gateway_url, headers, killed_at + RECOVERY_TIMEOUT_S) - killed_at
        time.sleep(SETTLED_S + 1.0)
    result = load.result()

    statuses = dict(zip(*np.unique(result.status, return_counts=True), strict=True))
    print(
        f"Triton killed: {statuses} over {result.requests} requests, traffic back after {recovered_s:.1f} s"
    )
    assert recovered_s < RECOVERY_TIMEOUT_S, f"traffic did not recover; stack {after.status}"
    assert set(statuses) == {200, 503}, result.failures.most_common(3)
    assert all("Triton" in failure for failure in result.failures), result.failures.most_common(3)
    assert result.latency_ms.max() < REQUEST_LIMIT_S * 1000, "a request hung during the outage"
    settled = result.status[result.started >= result.elapsed_s - SETTLED_S]
    assert len(settled) and set(settled) == {200}
    assert after.children["triton"].restarts == before.children["triton"].restarts + 1
    assert {name: pid for name, pid in child_pids(after).items() if name != "triton"} == others
    assert group_members(triton.pid) == []  # the old server's backend stubs are gone too


def wait_for_answer(gateway_url: str, headers: dict[str, str], deadline: float) -> float:
    """When moderation first answered 200 through the gateway (or the deadline)."""
    request = moderation_request(0)
    while time.monotonic() < deadline:
        answer = httpx.post(f"{gateway_url}{request.path}", json=request.json, headers=headers, timeout=30)
        if answer.status_code == 200:
            return time.monotonic()
        time.sleep(0.5)
    return deadline
