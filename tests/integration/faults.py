"""Shared by the fault-injection tests: load on the stack while a fault is injected, and what the
stack's processes are right now (a fault must restart only the process it hit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from bench.load import LoadResult, Request, run_load
from modelyard.settings import Settings
from serving.stack.client import read_api_key
from serving.stack.state import StackState, read_state

CLIENT_TIMEOUT_S = 60.0
"""Longer than the gateway's own upstream timeout: a hang shows as a slow answer, not a client error."""


@dataclass(frozen=True)
class RunningLoad:
    """A load in a background thread: ``stop`` ends it, ``result()`` waits for every answer."""

    stop: threading.Event
    future: Future[LoadResult]

    def result(self) -> LoadResult:
        self.stop.set()
        return self.future.result(timeout=CLIENT_TIMEOUT_S * 2)


@contextmanager
def load_in_background(
    base_url: str, make_request: Callable[[int], Request], concurrency: int, headers: dict[str, str]
) -> Iterator[RunningLoad]:
    """Closed-loop callers on ``base_url`` for as long as the block runs (or until ``stop``)."""
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            run_load,
            base_url,
            make_request,
            concurrency,
            headers=headers,
            stop=stop,
            timeout_s=CLIENT_TIMEOUT_S,
        )
        try:
            yield RunningLoad(stop, future)
        finally:
            stop.set()


def require_served(served_stack: tuple, *models: str) -> None:
    """Skip, saying why, when training could not produce a model the test needs (not a serving fault)."""
    untrained = served_stack[2]
    for model in models:
        if model in untrained:
            pytest.skip(f"{model} is not served: {untrained[model]}")


def moderation_request(index: int) -> Request:
    """A KServe V1 moderation body, different per request."""
    return Request(
        "POST", "/v1/models/moderation:predict", json={"instances": [{"text": f"Cheap meds {index}!"}]}
    )


def key_header(settings: Settings) -> dict[str, str]:
    key = read_api_key(settings)
    return {"x-api-key": key} if key else {}


def child_pids(state: StackState) -> dict[str, int | None]:
    return {name: child.pid for name, child in state.children.items()}


def wait_until(settings: Settings, ready: Callable[[StackState], bool], timeout_s: float) -> StackState:
    """``stack.json`` once ``ready(state)`` holds (or as it is at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = read_state(settings)
        if ready(state):
            return state
        time.sleep(0.5)
    return read_state(settings)
