"""bench.load against a real loopback server: counts, statuses, failures and windows add up."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.load import Request, run_load
from tests.loopback import serving_in_thread


async def echo(request: StarletteRequest) -> JSONResponse:
    body = await request.json()
    if body.get("bad"):
        return JSONResponse({"error": "bad item"}, status_code=400)
    return JSONResponse({"ok": body["i"]})


APP = Starlette(routes=[Route("/echo", echo, methods=["POST"])])


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving_in_thread(APP) as base_url:
        yield base_url


def test_a_counted_run_records_every_answer_and_its_failures(url: str) -> None:
    def make(i: int) -> Request:
        return Request("POST", "/echo", json={"i": i, "bad": i % 10 == 0})

    result = run_load(url, make, concurrency=4, total=50)
    summary = result.summary()
    assert summary["requests"] == 50 and summary["errors"] == 5
    assert result.failures == {'400: {"error":"bad item"}': 5}
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] and summary["rps"] > 0


def test_warmup_is_not_recorded_and_windows_split_a_timed_run(url: str) -> None:
    result = run_load(
        url,
        lambda i: Request("POST", "/echo", json={"i": i}),
        concurrency=2,
        duration_s=0.6,
        warmup=3,
    )
    assert result.errors == 0 and result.requests > 0
    windows = result.windows(0.2)
    assert len(windows) == 3
    assert sum(w.requests for w in windows) <= result.requests


def test_a_background_run_ends_when_its_stop_event_is_set(url: str) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    result = run_load(
        url,
        lambda i: Request("POST", "/echo", json={"i": i}),
        concurrency=2,
        stop=stop,
    )
    assert result.requests > 0 and 0.25 < result.elapsed_s < 5


def test_a_run_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="duration_s, total or stop"):
        run_load("http://app", lambda i: Request("GET", "/"), concurrency=1)
