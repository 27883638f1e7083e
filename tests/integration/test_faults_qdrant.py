"""Qdrant unavailable on the shared stack (``served_stack``), with the default embedded engine.

Embedded, Qdrant runs inside each transformer, so it cannot go down on its own: what can fail is
its storage. Either the store's files are not there (a volume not mounted, a restore in progress),
or another process holds the collection's lock when a transformer opens it. Both must answer 503
for visual search and ranking retrieval with a message that says what to do, leave moderation
alone, and heal on the next request once the fault is removed, without restarting anything.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

import httpx
import pytest

from embeddings.naming import collection_name
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

VISUAL_SEARCH = "transformer-visual-search"
SEARCH_BODY = {"instances": [{"id": 3}], "k": 3}
"""More like catalogue item 3: reads its stored vector, then searches (both go to Qdrant)."""
KNOWN_USER, UNKNOWN_USER = 42, 999_999
RESTART_TIMEOUT_S = 180.0
HOLDER = """
import sys, time
import qdrant_edge
while True:  # until the transformer that held the shard has died
    try:
        shard = qdrant_edge.EdgeShard.load(sys.argv[1])
        break
    except Exception:
        time.sleep(0.02)
print("held", flush=True)
sys.stdin.read()  # hold it until the test closes stdin
"""
"""Another process that takes a collection's lock (what ``yard index`` of that version does)."""


def search(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/models/visual-search:predict", json=SEARCH_BODY)


def rank(client: httpx.Client, user: int) -> httpx.Response:
    return client.post("/v1/models/ranking:predict", json={"user_id": user, "n": 5})


def test_missing_store_files_answer_503_and_heal_without_restarts(served_stack) -> None:
    require_served(served_stack, "visual-search", "ranking", "moderation")
    settings, _, _ = served_stack
    before = read_state(settings)
    store = settings.qdrant_path / "edge"
    moved = store.with_name("edge.outage")
    headers = key_header(settings)
    with (
        httpx.Client(base_url=before.gateway_url, headers=headers, timeout=30) as client,
        load_in_background(before.gateway_url, moderation_request, 2, headers) as load,
    ):
        assert (search(client).status_code, rank(client, KNOWN_USER).status_code) == (200, 200)
        store.rename(moved)
        try:
            down = {"search": search(client), "retrieval": rank(client, KNOWN_USER)}
            cold_start = rank(client, UNKNOWN_USER)
        finally:
            moved.rename(store)
        healed = (search(client).status_code, rank(client, KNOWN_USER).status_code)
    moderation = load.result()

    assert {name: answer.status_code for name, answer in down.items()} == {"search": 503, "retrieval": 503}
    for name, model in (("search", "visual-search"), ("retrieval", "ranking")):
        error = down[name].json()["error"]
        assert (
            collection_name(model, before.models[model].version) in error and f"yard index {model}" in error
        )
    assert cold_start.status_code == 200, cold_start.text  # no retrieval: Qdrant is not needed
    assert healed == (200, 200)
    assert moderation.requests > 0 and moderation.errors == 0, moderation.failures.most_common(3)
    after = read_state(settings)
    assert child_pids(after) == child_pids(before)
    assert {n: c.restarts for n, c in after.children.items()} == {
        n: c.restarts for n, c in before.children.items()
    }


def test_a_store_held_by_another_process_answers_503_until_released(served_stack) -> None:
    """The visual-search transformer crashes and, while it restarts, another process takes its
    collection: the new transformer comes up, answers 503 naming the lock, and serves as soon as
    the other process lets go, with no second restart."""
    require_served(served_stack, "visual-search", "moderation")
    settings, _, _ = served_stack
    before = read_state(settings)
    crashed = before.children[VISUAL_SEARCH]
    version = before.models["visual-search"].version
    shard = settings.qdrant_path / "edge" / collection_name("visual-search", version) / "shard"
    headers = key_header(settings)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(shard)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        with (
            httpx.Client(base_url=before.gateway_url, headers=headers, timeout=30) as client,
            load_in_background(before.gateway_url, moderation_request, 2, headers) as load,
        ):
            os.killpg(crashed.pid, signal.SIGKILL)
            assert select.select([holder.stdout], [], [], 60)[0], "the other process never got the lock"
            assert holder.stdout.readline().strip() == "held"
            restarted = wait_until(
                settings,
                lambda s: s.children[VISUAL_SEARCH].pid != crashed.pid and s.status == "ready",
                RESTART_TIMEOUT_S,
            )
            locked = search(client)
            holder.stdin.close()
            holder.wait(timeout=30)
            released = search(client)
        moderation = load.result()
    finally:
        holder.kill()
        holder.wait()

    assert restarted.status == "ready", {n: c.status for n, c in restarted.children.items()}
    assert locked.status_code == 503, locked.text
    assert "cannot be opened" in locked.json()["error"] and "stop the other process" in locked.json()["error"]
    assert released.status_code == 200, released.text
    assert moderation.requests > 0 and moderation.errors == 0, moderation.failures.most_common(3)
    after = read_state(settings)
    assert after.children[VISUAL_SEARCH].pid == restarted.children[VISUAL_SEARCH].pid
    assert after.children[VISUAL_SEARCH].restarts == crashed.restarts + 1
    others = {name: pid for name, pid in child_pids(before).items() if name != VISUAL_SEARCH}
    assert {name: pid for name, pid in child_pids(after).items() if name != VISUAL_SEARCH} == others
