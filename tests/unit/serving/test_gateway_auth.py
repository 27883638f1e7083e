"""Key auth: who gets in (client key on model routes, admin key on admin routes and /metrics),
what a refusal looks like, where the keys never go, and when auth may be off."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from modelyard.errors import UsageError
from modelyard.keys import resolve_key
from serving.gateway.app import create_app
from serving.gateway.config import GatewayConfig, Upstream
from tests.unit.serving.gateway_harness import ADMIN, ADMIN_KEY, API_KEY, GatewayFactory

pytestmark = pytest.mark.anyio
PREDICT = "/v1/models/moderation:predict"
BODY = {"instances": ["hello"]}
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong"},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Basic {API_KEY}"},
        {"authorization": "Bearer wrong", "x-api-key": API_KEY},
        {"authorization": "Basic Zm9vOmJhcg==", "x-api-key": API_KEY},
        {"authorization": f"Bearer {API_KEY}", "x-api-key": "wrong"},
    ],
    ids=[
        "none",
        "wrong-x-api-key",
        "wrong-bearer",
        "basic-scheme",
        "wrong-bearer+right-x-api-key",
        "basic+right-x-api-key",
        "right-bearer+wrong-x-api-key",
    ],
)
async def test_missing_or_wrong_key_is_401_with_json_error_and_challenge(
    gateway: GatewayFactory, headers: dict[str, str]
) -> None:
    async with gateway(authenticated=False) as client:
        response = await client.post(PREDICT, json=BODY, headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": API_KEY},
        {"authorization": f"Bearer {API_KEY}"},
        {"authorization": f"bearer {API_KEY}", "x-api-key": API_KEY},
    ],
    ids=["x-api-key", "bearer", "both-right"],
)
async def test_either_header_form_admits(gateway: GatewayFactory, headers: dict[str, str]) -> None:
    async with gateway(authenticated=False) as client:
        response = await client.post(PREDICT, json=BODY, headers=headers)
    assert response.status_code == 200
    assert response.json()["predictions"] == ["hello"]


@pytest.mark.parametrize(
    "path", ["/v1/models", "/v2/models", "/v2/models/ranking", "/v2/models/ranking/ready"]
)
async def test_every_model_route_needs_the_key(gateway: GatewayFactory, path: str) -> None:
    async with gateway(authenticated=False) as client:
        assert (await client.get(path)).status_code == 401


async def test_unknown_model_is_not_revealed_before_auth(gateway: GatewayFactory) -> None:
    async with gateway(authenticated=False) as client:
        response = await client.post("/v1/models/nope:predict", json=BODY)
    assert response.status_code == 401
    assert "moderation" not in response.text


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready"])
async def test_probes_are_open(gateway: GatewayFactory, path: str) -> None:
    async with gateway(authenticated=False) as client:
        assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize("path", ["/metrics", "/admin/rollouts", "/admin/rollouts/moderation"])
async def test_admin_routes_need_the_admin_key_not_the_client_key(gateway: GatewayFactory, path: str) -> None:
    async with gateway(authenticated=False) as client:
        keyless = await client.get(path)
        client_key = await client.get(path, headers={"x-api-key": API_KEY})
        wrong = await client.get(path, headers={"authorization": "Bearer wrong"})
        admin = await client.get(path, headers=ADMIN)
    assert (keyless.status_code, client_key.status_code, wrong.status_code, admin.status_code) == (
        401,
        403,
        401,
        200,
    )
    assert "admin key" in keyless.json()["error"] and "admin key" in client_key.json()["error"]


async def test_the_admin_key_opens_no_model_route(gateway: GatewayFactory) -> None:
    async with gateway(authenticated=False) as client:
        response = await client.post(PREDICT, json=BODY, headers=ADMIN)
    assert response.status_code == 401


async def test_admin_key_is_checked_before_the_body_is_read(gateway: GatewayFactory) -> None:
    """A keyless or client-key PUT is refused without its body being read: a malformed body gets
    the same 401/403 as a good one (FastAPI would parse a declared body first: 422)."""
    read: list[int] = []

    async def body() -> Any:
        for _ in range(4):
            read.append(1)
            yield b"{not json"

    async with gateway(authenticated=False) as client:
        keyless = await client.put("/admin/rollouts/moderation", content=body())
        with_client_key = await client.put(
            "/admin/rollouts/moderation", content=body(), headers={"x-api-key": API_KEY}
        )
    assert (keyless.status_code, with_client_key.status_code) == (401, 403)
    assert read == []


async def test_admin_bodies_are_capped(gateway: GatewayFactory) -> None:
    async with gateway(authenticated=False) as client:
        response = await client.put(
            "/admin/rollouts/moderation", content=b" " * (64 * 1024 + 1), headers={**ADMIN, **JSON}
        )
    assert response.status_code == 413
    assert "admin" in response.json()["error"]


async def test_auth_off_admits_without_key(gateway: GatewayFactory) -> None:
    async with gateway(authenticated=False, auth_enabled=False, api_key=None, admin_key=None) as client:
        assert (await client.post(PREDICT, json=BODY)).status_code == 200
        assert (await client.get("/admin/rollouts")).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "gateway.example"])
def test_auth_off_is_refused_on_an_address_other_machines_reach(host: str) -> None:
    routes = {"ranking": [Upstream(url="http://127.0.0.1:9", version="1")]}
    with pytest.raises(ValidationError, match="MODELYARD_ALLOW_NO_AUTH_ON_NETWORK"):
        GatewayConfig(routes=routes, host=host, auth_enabled=False)
    forced = GatewayConfig(routes=routes, host=host, auth_enabled=False, allow_no_auth_on_network=True)
    assert not forced.auth_enabled


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_auth_off_is_allowed_on_loopback(host: str) -> None:
    routes = {"ranking": [Upstream(url="http://127.0.0.1:9", version="1")]}
    assert not GatewayConfig(routes=routes, host=host, auth_enabled=False).auth_enabled


async def test_key_is_not_forwarded_upstream(gateway: GatewayFactory) -> None:
    async with gateway(authenticated=False) as client:
        response = await client.post(
            PREDICT, json=BODY, headers={"authorization": f"Bearer {API_KEY}", "cookie": "session=1"}
        )
    seen = response.json()["seen_headers"]
    assert not {"authorization", "x-api-key", "cookie"} & set(seen)
    assert API_KEY not in json.dumps(seen)


async def test_keys_never_reach_the_logs(gateway: GatewayFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "wrong-key-that-must-not-be-logged"
    async with gateway(authenticated=False) as client:
        await client.get("/admin/rollouts", headers=ADMIN)
        await client.post(PREDICT, json=BODY, headers={"x-api-key": API_KEY})
        await client.post(PREDICT, json=BODY, headers={"authorization": f"Bearer {wrong_key}"})
        await client.post("/v1/models/nope:predict", json=BODY, headers={"x-api-key": API_KEY})
    logged = json.dumps([[r.getMessage(), getattr(r, "fields", {})] for r in caplog.records], default=str)
    request_lines = [r for r in caplog.records if r.getMessage() == "gateway_request"]
    assert len(request_lines) == 4  # the capture did see the requests
    assert API_KEY not in logged and ADMIN_KEY not in logged
    assert wrong_key not in logged


def test_auth_on_without_keys_or_with_one_key_twice_is_refused() -> None:
    routes = {"ranking": [Upstream(url="http://127.0.0.1:9", version="1")]}
    with pytest.raises(UsageError, match="not resolved"):
        create_app(GatewayConfig(routes=routes, api_key=SecretStr(API_KEY)))
    with pytest.raises(UsageError, match="equals"):
        create_app(GatewayConfig(routes=routes, api_key=SecretStr(API_KEY), admin_key=SecretStr(API_KEY)))


def test_first_start_writes_a_private_key_file_then_reuses_it(tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "api_key"
    created = resolve_key(None, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(created.get_secret_value()) >= 32
    assert resolve_key(None, key_file) == created


def test_configured_key_wins_and_writes_no_file(tmp_path: Path) -> None:
    key_file = tmp_path / "api_key"
    assert resolve_key(SecretStr("from-env"), key_file).get_secret_value() == "from-env"
    assert not key_file.exists()


def test_empty_key_file_is_a_usage_error_naming_the_fix(tmp_path: Path) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text("\n")
    with pytest.raises(UsageError, match="empty") as raised:
        resolve_key(None, key_file)
    assert str(key_file) in (raised.value.hint or "")
