"""With MLflow unreachable, ``yard rollout`` fails with the fix and the split does not move."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from modelyard.errors import UnavailableError
from modelyard.settings import get_settings
from serving.gateway.app import create_app
from serving.gateway.config import Upstream
from tests.unit.serving.echo_upstream import running_echo_upstream
from tests.unit.serving.gateway_harness import ADMIN, ADMIN_KEY, LOOPBACK, config_for
from yard.rollout import app

MODEL = "moderation"


@pytest.fixture
def gateway_with_canary(tmp_path: Path) -> Iterator[str]:
    """A real gateway on loopback (in a thread) with a 20 % canary between two echo upstreams."""
    with running_echo_upstream() as (stable, _), running_echo_upstream() as (candidate, _):
        config = config_for(
            {MODEL: [Upstream(url=stable, version="1")]},
            rollouts_file=tmp_path / "r.json",
            allowed_upstreams=LOOPBACK,
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        body = {"canary": {"version": "2", "url": candidate}, "percent": 20}
        httpx.put(f"{url}/admin/rollouts/{MODEL}", json=body, headers=ADMIN).raise_for_status()
        try:
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=5)


@pytest.mark.parametrize(
    "command",
    [
        ["set", MODEL, "--percent", "90"],
        ["promote", MODEL],
        ["rollback", MODEL],
        ["start", MODEL, "--version", "3"],
    ],
    ids=["set", "promote", "rollback", "start"],
)
def test_unreachable_mlflow_stops_the_command_before_anything_moves(
    gateway_with_canary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("MODELYARD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MODELYARD_MLFLOW_TRACKING_URI", dead)
    monkeypatch.setenv("MODELYARD_ADMIN_KEY", ADMIN_KEY)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, [*command, "--gateway", gateway_with_canary])
    finally:
        get_settings.cache_clear()
    assert isinstance(result.exception, UnavailableError), result.output
    assert "unreachable" in result.exception.message and result.exception.hint
    view = httpx.get(f"{gateway_with_canary}/admin/rollouts/{MODEL}", headers=ADMIN).json()
    assert (view["rollout"]["percent"], view["rollout"]["canary"]["version"]) == (20, "2")


def test_status_reads_only_the_gateway_and_gives_versions_as_numbers(
    gateway_with_canary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``status`` keeps working with MLflow down; its JSON has one type for versions (int), as every
    ``--json`` of yard (the gateway's own documents keep strings)."""
    monkeypatch.setenv("MODELYARD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MODELYARD_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MODELYARD_ADMIN_KEY", ADMIN_KEY)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["status", MODEL, "--gateway", gateway_with_canary, "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [variant["version"] for variant in report["variants"]] == [1, 2]
    rollout = report["rollout"]
    assert (rollout["stable"]["version"], rollout["canary"]["version"], rollout["base"]["version"]) == (
        1,
        2,
        1,
    )
    assert {(entry["stable"], entry["canary"]) for entry in rollout["history"]} == {(1, 2)}
