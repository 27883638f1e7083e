"""The gateway's rollout layer in-process, in front of real echo upstreams on loopback."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from serving.gateway.config import Upstream
from serving.gateway.rollout.figures import applied_rollouts, parse_snapshot, window
from serving.gateway.rollout.state import RolloutSpec, Variant, apply_spec, dump_rollouts
from tests.unit.serving.echo_upstream import running_echo_upstream
from tests.unit.serving.gateway_harness import ADMIN, API_KEY, LOOPBACK, config_for, gateway_client

pytestmark = pytest.mark.anyio
MODEL = "moderation"
PREDICT = f"/v1/models/{MODEL}:predict"
BODY = {"instances": [{"text": "hello"}]}
V2_BODY = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hello"]}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[tuple[str, FastAPI], tuple[str, FastAPI]]]:
    """Stable (version 1) and candidate (version 2) echo upstreams."""
    with running_echo_upstream() as stable, running_echo_upstream() as candidate:
        yield stable, candidate


def config(stable_url: str, state_file: Path | None = None, **overrides: object):
    """The stable upstream configured; candidates (stand-ins on loopback ports) on the allow-list."""
    return config_for(
        {MODEL: [Upstream(url=stable_url, version="1")]},
        rollouts_file=state_file,
        **{"allowed_upstreams": LOOPBACK, **overrides},
    )


def canary_body(url: str, percent: int, mode: str = "canary") -> dict:
    return {"mode": mode, "canary": {"version": "2", "url": url}, "percent": percent}


async def test_split_matches_the_percent_and_each_user_sticks(upstreams) -> None:
    (stable_url, _), (candidate_url, _) = upstreams
    async with gateway_client(config(stable_url)) as client:
        answer = await client.put(
            f"/admin/rollouts/{MODEL}", json=canary_body(candidate_url, 30), headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        users = [f"user-{i}" for i in range(600)]
        first = {}
        for user in users:
            reply = await client.post(PREDICT, json=BODY, headers={"x-user-id": user})
            assert reply.status_code == 200
            first[user] = reply.headers["x-modelyard-version"]
        share = Counter(first.values())["2"] / len(users)
        assert abs(share - 0.3) < 5 * math.sqrt(0.3 * 0.7 / len(users))
        for user in users[:100]:
            reply = await client.post(PREDICT, json=BODY, headers={"x-user-id": user})
            assert reply.headers["x-modelyard-version"] == first[user]
        pinned = await client.post(f"/v2/models/{MODEL}/versions/2/infer", json=V2_BODY)
        assert pinned.headers["x-modelyard-version"] == "2"


async def test_shadow_returns_stable_and_compares_the_candidate_in_the_background(upstreams) -> None:
    (stable_url, _), (candidate_url, candidate) = upstreams
    async with gateway_client(config(stable_url)) as client:
        await client.put(
            f"/admin/rollouts/{MODEL}", json=canary_body(candidate_url, 100, "shadow"), headers=ADMIN
        )
        hits_before = candidate.state.hits
        for i in range(40):
            reply = await client.post(PREDICT, json=BODY, headers={"x-user-id": f"u{i}"})
            assert reply.headers["x-modelyard-version"] == "1"
        for _ in range(100):  # the copies are in flight after the callers got their answers
            if candidate.state.hits - hits_before >= 40:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        snapshot = parse_snapshot((await client.get("/metrics", headers=ADMIN)).text)
        shadow = window({}, snapshot, "shadow", MODEL, "2")
        assert shadow.requests == 40 and shadow.errors == 0
        assert shadow.agreement == 1.0  # echo answers are identical
        assert window({}, snapshot, "served", MODEL, "2").requests == 0  # no caller saw version 2


async def test_the_split_survives_a_restart_but_not_a_route_change(upstreams, tmp_path: Path) -> None:
    (stable_url, _), (candidate_url, _) = upstreams
    state_file = tmp_path / "rollouts.json"
    async with gateway_client(config(stable_url, state_file)) as client:
        await client.put(f"/admin/rollouts/{MODEL}", json=canary_body(candidate_url, 40), headers=ADMIN)
    assert json.loads(state_file.read_text())["rollouts"][MODEL]["percent"] == 40
    async with gateway_client(config(stable_url, state_file)) as client:
        view = (await client.get(f"/admin/rollouts/{MODEL}", headers=ADMIN)).json()
        assert view["rollout"]["percent"] == 40 and view["rollout"]["canary"]["version"] == "2"
    async with gateway_client(config(candidate_url, state_file)) as client:  # a new yard serve
        assert (await client.get(f"/admin/rollouts/{MODEL}", headers=ADMIN)).json()["rollout"] is None


async def test_admin_api_needs_the_admin_key_and_a_ready_candidate(upstreams) -> None:
    (stable_url, _), (candidate_url, _) = upstreams
    async with gateway_client(config(stable_url), authenticated=False) as client:
        body = canary_body(candidate_url, 5)
        keyless = await client.put(f"/admin/rollouts/{MODEL}", json=body)
        client_key = await client.put(f"/admin/rollouts/{MODEL}", json=body, headers={"x-api-key": API_KEY})
        assert (keyless.status_code, client_key.status_code) == (401, 403)
    with running_echo_upstream(ready=False) as (loading_url, _):
        async with gateway_client(config(stable_url)) as client:
            refused = await client.put(
                f"/admin/rollouts/{MODEL}", json=canary_body(loading_url, 5), headers=ADMIN
            )
            assert refused.status_code == 409 and "not ready" in refused.json()["error"]
            new_stable = {"stable": {"version": "3", "url": loading_url}}
            refused = await client.put(f"/admin/rollouts/{MODEL}", json=new_stable, headers=ADMIN)
            assert refused.status_code == 409 and refused.json()["error"].startswith("stable")
            unknown = await client.put(
                "/admin/rollouts/nope", json=canary_body(loading_url, 5), headers=ADMIN
            )
            assert unknown.status_code == 404
            same = await client.put(
                f"/admin/rollouts/{MODEL}",
                json={"canary": {"version": "1", "url": stable_url}},
                headers=ADMIN,
            )
            assert same.status_code == 400 and "both version 1" in same.json()["error"]


async def test_a_variant_off_the_allow_list_is_refused_before_any_request_reaches_it(upstreams) -> None:
    """The SSRF the admin API had: any URL became a route. Now only configured upstreams, the
    rollout's own variants and allow-listed origins; the candidate never sees a probe."""
    (stable_url, _), (candidate_url, candidate) = upstreams
    hits_before = candidate.state.hits
    async with gateway_client(config(stable_url, allowed_upstreams=())) as client:
        refused = await client.put(
            f"/admin/rollouts/{MODEL}", json=canary_body(candidate_url, 100), headers=ADMIN
        )
        served = await client.post(PREDICT, json=BODY)
    assert refused.status_code == 400 and "allow-list" in refused.json()["error"]
    assert served.headers["x-modelyard-version"] == "1"
    assert candidate.state.hits == hits_before
    elsewhere = config(stable_url, allowed_upstreams=("http://127.0.0.1:1",))
    async with gateway_client(elsewhere) as client:
        refused = await client.put(
            f"/admin/rollouts/{MODEL}", json=canary_body(candidate_url, 100), headers=ADMIN
        )
    assert refused.status_code == 400


HOSTILE_SPECS = {
    "query-and-fragment": {"canary": {"version": "9", "url": "http://127.0.0.1:9/x?y=1#"}, "percent": 100},
    "user-info": {"canary": {"version": "9", "url": "http://user:pw@127.0.0.1:9"}, "percent": 1},
    "not-a-url": {"stable": {"version": "9", "url": "not a url"}},
    "ftp": {"stable": {"version": "9", "url": "ftp://127.0.0.1/x"}},
    "euro-version": {"canary": {"version": "9\u20ac", "url": "http://127.0.0.1:9"}, "percent": 1},
    "crlf-version": {"canary": {"version": "9\r\nx-evil: 1", "url": "http://127.0.0.1:9"}, "percent": 1},
    "long-reason": {"reason": "x" * 501},
    "newline-reason": {"reason": "rolled back\nFAKE LOG LINE"},
    "percent-text": {"percent": "lots"},
    "unknown-field": {"canary_url": "http://127.0.0.1:9"},
    "not-an-object": [1, 2],
}


@pytest.mark.parametrize("spec", HOSTILE_SPECS.values(), ids=HOSTILE_SPECS.keys())
async def test_bad_rollout_values_are_400_naming_the_field_and_change_nothing(upstreams, spec) -> None:
    (stable_url, _), _ = upstreams
    async with gateway_client(config(stable_url)) as client:
        refused = await client.put(f"/admin/rollouts/{MODEL}", json=spec, headers=ADMIN)
        served = await client.post(PREDICT, json=BODY)
        view = (await client.get(f"/admin/rollouts/{MODEL}", headers=ADMIN)).json()
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"].startswith("invalid rollout: ")
    assert served.status_code == 200 and served.headers["x-modelyard-version"] == "1"
    assert view["rollout"] is None


async def test_an_oversized_reason_is_refused_while_it_streams_in(upstreams) -> None:
    (stable_url, _), _ = upstreams
    body = json.dumps({"reason": "x" * (8 * 1024 * 1024)}).encode()
    async with gateway_client(config(stable_url)) as client:
        refused = await client.put(
            f"/admin/rollouts/{MODEL}", content=body, headers={**ADMIN, "content-type": "application/json"}
        )
    assert refused.status_code == 413


async def test_removing_a_rollout_restores_the_configured_route(upstreams) -> None:
    (stable_url, _), (candidate_url, _) = upstreams
    async with gateway_client(config(stable_url)) as client:
        await client.put(f"/admin/rollouts/{MODEL}", json=canary_body(candidate_url, 100), headers=ADMIN)
        assert (await client.post(PREDICT, json=BODY)).headers["x-modelyard-version"] == "2"
        assert (await client.delete(f"/admin/rollouts/{MODEL}", headers=ADMIN)).status_code == 204
        assert (await client.post(PREDICT, json=BODY)).headers["x-modelyard-version"] == "1"


def followed(stable_url: str, source: Path):
    return config_for(
        {MODEL: [Upstream(url=stable_url, version="1")]},
        rollouts_file=source,
        rollouts_readonly=True,
        rollouts_poll_s=0.01,
    )


def written(source: Path, stable_url: str, candidate_url: str, percent: int) -> float:
    """What ``yard rollout --target k8s`` puts in the ConfigMap; returns its updated_at."""
    stable = Variant(version="1", url=stable_url)
    spec = RolloutSpec(canary=Variant(version="2", url=candidate_url), percent=percent)
    rollout = apply_spec(MODEL, None, spec, stable)
    source.write_text(dump_rollouts({MODEL: rollout}))
    return rollout.updated_at


async def until(check, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_read_only_gateway_follows_the_file_and_reports_the_revision(upstreams, tmp_path: Path) -> None:
    (stable_url, _), (candidate_url, _) = upstreams
    source = tmp_path / "rollouts.json"
    source.write_text(dump_rollouts({}))
    async with gateway_client(followed(stable_url, source)) as client:

        async def percent() -> int | None:
            rollout = (await client.get(f"/admin/rollouts/{MODEL}", headers=ADMIN)).json()["rollout"]
            return rollout and rollout["percent"]

        assert await percent() is None
        updated_at = written(source, stable_url, candidate_url, 100)
        await until(lambda: _is(percent, 100))
        assert (await client.post(PREDICT, json=BODY)).headers["x-modelyard-version"] == "2"
        applied = applied_rollouts((await client.get("/metrics", headers=ADMIN)).text)
        assert applied[MODEL] == pytest.approx(updated_at)
        written(source, stable_url, candidate_url, 0)
        await until(lambda: _is(percent, 0))


async def _is(read, expected) -> bool:
    return await read() == expected


async def test_a_corrupt_file_keeps_the_last_good_split_and_is_logged(
    upstreams, tmp_path: Path, caplog
) -> None:
    (stable_url, _), (candidate_url, _) = upstreams
    source = tmp_path / "rollouts.json"
    written(source, stable_url, candidate_url, 100)
    async with gateway_client(followed(stable_url, source)) as client:
        assert (await client.post(PREDICT, json=BODY)).headers["x-modelyard-version"] == "2"
        source.write_text('{"schema_version": 1, "rollouts": {"moderation": {"percent": "lots"')
        await until(lambda: _logged(caplog, "rollouts_source_invalid"))
        assert (await client.post(PREDICT, json=BODY)).headers["x-modelyard-version"] == "2"
        assert (await client.get("/v2/health/live")).status_code == 200


async def _logged(caplog, name: str) -> bool:
    return any(record.getMessage() == name for record in caplog.records)


async def test_a_corrupt_file_at_start_does_not_keep_the_gateway_down(upstreams, tmp_path: Path) -> None:
    (stable_url, _), _ = upstreams
    source = tmp_path / "rollouts.json"
    source.write_text("not json")
    async with gateway_client(followed(stable_url, source)) as client:
        assert (await client.post(PREDICT, json=BODY)).headers["x-modelyard-version"] == "1"


async def test_read_only_admin_api_refuses_changes_with_the_way_to_make_them(
    upstreams, tmp_path: Path
) -> None:
    (stable_url, _), (candidate_url, _) = upstreams
    source = tmp_path / "rollouts.json"
    source.write_text(dump_rollouts({}))
    async with gateway_client(followed(stable_url, source)) as client:
        put = await client.put(f"/admin/rollouts/{MODEL}", json=canary_body(candidate_url, 10), headers=ADMIN)
        delete = await client.delete(f"/admin/rollouts/{MODEL}", headers=ADMIN)
        for refused in (put, delete):
            assert refused.status_code == 409
            assert "ConfigMap" in refused.json()["error"] and "--target k8s" in refused.json()["error"]
    assert source.read_text() == dump_rollouts({})
