"""`python -m serving.gateway` as a real process in front of a real (echo) upstream process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import free_loopback_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
# Stands in for a transformer: these tests are about the gateway process only.
ECHO_UPSTREAM = "tests.unit.serving.echo_upstream"
MAX_BODY = 2000


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} not up after {timeout_s} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class GatewayProcess:
    process: subprocess.Popen
    url: str
    state_dir: Path
    log_file: Path

    @property
    def key(self) -> str:
        return (self.state_dir / "api_key").read_text().strip()

    @property
    def admin_key(self) -> str:
        return (self.state_dir / "admin_key").read_text().strip()

    def log_text(self) -> str:
        return self.log_file.read_text()


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    port = free_loopback_port()
    process = subprocess.Popen([sys.executable, "-m", ECHO_UPSTREAM, "--port", str(port)], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/v2/models/any/ready", process)
        yield url
    finally:
        stop(process)


def start_gateway(echo_url: str, tmp_path: Path) -> GatewayProcess:
    port = free_loopback_port()
    state_dir = tmp_path / "state"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")},
        "MODELYARD_STATE_DIR": str(state_dir),
        "MODELYARD_LOG_FORMAT": "json",
        "MODELYARD_MAX_BODY_BYTES": str(MAX_BODY),
        "MODELYARD_DRAIN_TIMEOUT_S": "10",
    }
    routes = [f"moderation={echo_url}@1", f"ranking=http://127.0.0.1:{free_loopback_port()}@2"]
    log_file = tmp_path / "gateway.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "serving.gateway",
                "--port",
                str(port),
                *(a for r in routes for a in ("--route", r)),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    gateway = GatewayProcess(process, f"http://127.0.0.1:{port}", state_dir, log_file)
    wait_until_up(f"{gateway.url}/v2/health/live", process)
    return gateway


@pytest.fixture
def gateway(echo_url: str, tmp_path: Path) -> Iterator[GatewayProcess]:
    gateway = start_gateway(echo_url, tmp_path)
    try:
        yield gateway
    finally:
        stop(gateway.process)


def test_first_start_writes_private_client_and_admin_keys(gateway: GatewayProcess) -> None:
    for name in ("api_key", "admin_key"):
        assert stat.S_IMODE((gateway.state_dir / name).stat().st_mode) == 0o600
    assert len(gateway.key) >= 32 and len(gateway.admin_key) >= 32
    assert gateway.key != gateway.admin_key


def test_status_paths_and_key_never_logged(gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        authed = {"authorization": f"Bearer {gateway.key}"}
        body = {"instances": ["hi"]}
        assert client.post("/v1/models/moderation:predict", json=body).status_code == 401
        ok = client.post("/v1/models/moderation:predict", json=body, headers=authed)
        unknown = client.post("/v1/models/nope:predict", json=body, headers=authed)
        too_big = client.post(
            "/v1/models/moderation:predict", json={"instances": ["x" * MAX_BODY]}, headers=authed
        )
        wrong_type = client.post(
            "/v1/models/moderation:predict", content=b"hi", headers={**authed, "content-type": "text/plain"}
        )
        down = client.post("/v1/models/ranking:predict", json=body, headers=authed)
        ready = client.get("/v2/health/ready")
        keyless_metrics = client.get("/metrics")
        scraped = client.get("/metrics", headers={"x-api-key": gateway.admin_key}).text
    assert (ok.status_code, ok.json()["predictions"]) == (200, ["hi"])
    assert (ok.headers["x-modelyard-model"], ok.headers["x-modelyard-version"]) == ("moderation", "1")
    assert (unknown.status_code, too_big.status_code, wrong_type.status_code) == (404, 413, 415)
    assert down.status_code == 503 and "'ranking'" in down.json()["error"]
    assert ready.status_code == 200 and ready.json() == {"ready": True, "unready": ["ranking@2"]}
    assert keyless_metrics.status_code == 401
    assert 'modelyard_gateway_requests_total{code="200",model="moderation",version="1"} 1.0' in scraped

    log = gateway.log_text()
    assert gateway.key not in log and gateway.admin_key not in log
    request_lines = [json.loads(line) for line in log.splitlines() if '"gateway_request"' in line]
    assert [line["status"] for line in request_lines] == [401, 200, 404, 413, 415, 503]


def test_sigterm_drains_an_in_flight_request_then_exits_zero(gateway: GatewayProcess) -> None:
    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{gateway.url}/v1/models/moderation:predict?delay=2",
                json={"instances": [1]},
                headers={"x-api-key": gateway.key},
                timeout=15,
            )
        )
    )
    slow.start()
    time.sleep(0.7)  # the request is now waiting on the upstream
    gateway.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{gateway.url}/v2/health/live", timeout=2)  # no new connections while draining
    assert gateway.process.wait(timeout=15) == 0
    slow.join(timeout=5)
    assert [answer.status_code for answer in answers] == [200]
    assert '"gateway_stopped"' in gateway.log_text()


def test_starting_without_routes_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "serving.gateway", "--port", str(free_loopback_port())],
        cwd=REPO,
        env={**os.environ, "MODELYARD_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--route model=url@version" in result.stderr


@pytest.mark.parametrize("switch", [["--no-auth"], []], ids=["--no-auth", "MODELYARD_AUTH_ENABLED=false"])
def test_auth_off_on_a_network_bind_stops_the_gateway_before_it_listens(
    tmp_path: Path, switch: list[str]
) -> None:
    """A stray MODELYARD_AUTH_ENABLED=false (a .env file, here) must not open every model to the
    network: off is for loopback only, unless MODELYARD_ALLOW_NO_AUTH_ON_NETWORK says so."""
    (tmp_path / ".env").write_text("MODELYARD_AUTH_ENABLED=false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving.gateway",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_loopback_port()),
            "--route",
            "moderation=http://127.0.0.1:9@1",
            *switch,
        ],  # fmt: skip
        cwd=tmp_path,
        env={**env, "MODELYARD_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "MODELYARD_ALLOW_NO_AUTH_ON_NETWORK" in result.stderr and "0.0.0.0" in result.stderr


def test_the_metrics_port_serves_the_scrape_without_a_key(echo_url: str, tmp_path: Path) -> None:
    metrics_port = free_loopback_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")},
        "MODELYARD_STATE_DIR": str(tmp_path / "state"),
        "MODELYARD_GATEWAY_METRICS_PORT": str(metrics_port),
    }
    port = free_loopback_port()
    command = [
        sys.executable,
        "-m",
        "serving.gateway",
        "--port",
        str(port),
        "--route",
        f"moderation={echo_url}@1",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/v2/health/live", process)
        key = (tmp_path / "state" / "api_key").read_text().strip()
        httpx.post(
            f"http://127.0.0.1:{port}/v1/models/moderation:predict",
            json={"instances": ["hi"]},
            headers={"x-api-key": key},
        )
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        on_api_port = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    finally:
        stop(process)
    assert scraped.status_code == 200
    assert 'modelyard_gateway_requests_total{code="200",model="moderation",version="1"} 1.0' in scraped.text
    assert on_api_port.status_code == 401
