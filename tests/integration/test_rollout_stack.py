"""Canaries on the real stack: a second version trained and registered, Triton loading it next
to the champion (explicit model control), a second real KServe transformer, and the real gateway
splitting users between the two versions. For visual-search also the candidate's own Qdrant
collection, and promote / rollback moving the MLflow aliases and the Qdrant alias, all under load.

Runs before test_stack.py (file order) and leaves the stack as it found it: the rollout is
rolled back, the candidate transformer stopped and its version unloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from functools import partial
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from bench.load import Request
from embeddings.engines.edge import EdgeEngine
from embeddings.naming import collection_name
from modelyard.registry import Registry
from serving.stack.client import read_api_key
from tests.integration.faults import load_in_background

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "moderation"
YARD = str(Path(sys.executable).parent / "yard")
USERS = [f"user-{i}" for i in range(120)]


def yard(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MODELYARD_STATE_DIR": str(settings.state_dir),
        "MODELYARD_FASHION_MNIST_SOURCE": str(settings.fashion_mnist_source),
        "MODELYARD_SPAMASSASSIN_SOURCE": str(settings.spamassassin_source),
        "MODELYARD_DEVICE": "cpu",
        "MODELYARD_LOG_FORMAT": "json",
    }
    command = [YARD, "rollout", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


def versions_seen(gateway_url: str, key: str, model: str = MODEL) -> Counter:
    seen: Counter = Counter()
    with httpx.Client(base_url=gateway_url, headers={"x-api-key": key}, timeout=60) as client:
        for user in USERS:
            answer = client.post(
                f"/v1/models/{model}:predict", json=body_for(model, user), headers={"x-user-id": user}
            )
            assert answer.status_code == 200, answer.text
            seen[answer.headers["x-modelyard-version"]] += 1
    return seen


def body_for(model: str, user: str) -> dict:
    if model == "visual-search":  # "more like this": catalogue ids exist in every version's collection
        return {"instances": [{"id": int(user.rsplit("-", 1)[1])}], "k": 5}
    return {"instances": [{"text": f"Win a free cruise now, {user}!"}]}


def user_request(model: str, index: int) -> Request:
    user = USERS[index % len(USERS)]
    path = f"/v1/models/{model}:predict"
    return Request("POST", path, json=body_for(model, user), headers={"x-user-id": user})


def test_canary_of_a_real_second_version_then_rollback(served_stack) -> None:
    from training.cluster import ray_session
    from training.options import TrainOptions
    from training.runner import train

    settings, state, untrained = served_stack
    if MODEL in untrained:
        pytest.skip(f"{MODEL} is not served: {untrained[MODEL]}")
    champion = state.models[MODEL].version
    with ray_session(settings):
        train(MODEL, TrainOptions(smoke=True), settings, Console(quiet=True))
    candidate = Registry(settings).versions(MODEL)[-1].version
    assert candidate != champion

    started = yard(
        settings, "start", MODEL, "--version", str(candidate), "--percent", "50", "--ready-timeout", "300"
    )
    assert started.returncode == 0, started.stdout + started.stderr
    key = read_api_key(settings)
    seen = versions_seen(state.gateway_url, key)
    assert set(seen) == {str(champion), str(candidate)}, seen
    assert 0.25 < seen[str(candidate)] / len(USERS) < 0.75
    assert versions_seen(state.gateway_url, key) == seen  # the same users, the same versions

    report = json.loads(yard(settings, "status", MODEL, "--json").stdout)
    canary = next(v for v in report["variants"] if v["role"] == "canary")
    assert canary["requests"] >= seen[str(candidate)] and canary["errors"] == 0

    rolled_back = yard(settings, "rollback", MODEL, "--reason", "integration test")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert versions_seen(state.gateway_url, key) == Counter({str(champion): len(USERS)})
    candidates = json.loads((settings.state_dir / "serving" / "candidates.json").read_text())
    assert candidates["candidates"] == {}


def test_visual_search_canary_promote_and_rollback_move_the_qdrant_alias_with_zero_failures(
    served_stack,
) -> None:
    """The candidate gets its own collection before traffic moves (alias untouched); promote moves
    the registry and Qdrant aliases, rollback moves both back and retires the candidate's process.
    Four users query all along: not one request fails."""
    from training.cluster import ray_session
    from training.options import TrainOptions
    from training.runner import train

    model = "visual-search"
    settings, state, untrained = served_stack
    if model in untrained:
        pytest.skip(f"{model} is not served: {untrained[model]}")
    champion = state.models[model].version
    with ray_session(settings):
        train(model, TrainOptions(smoke=True), settings, Console(quiet=True))
    registry = Registry(settings)
    candidate = registry.versions(model)[-1].version
    key = read_api_key(settings)

    def live_collection() -> str:
        """The Qdrant alias as the stack's embedded store has it on disk now (a new engine reads it)."""
        return EdgeEngine(settings.qdrant_path / "edge").aliases()[model]

    make = partial(user_request, model)
    with load_in_background(state.gateway_url, make, 4, {"x-api-key": key}) as load:
        started = yard(
            settings, "start", model, "--version", str(candidate), "--percent", "50", "--ready-timeout", "300"
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert live_collection() == collection_name(model, champion)
        assert set(versions_seen(state.gateway_url, key, model)) == {str(champion), str(candidate)}

        promoted = yard(settings, "promote", model, "--json")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert json.loads(promoted.stdout)["embeddings"] == "switched"  # built at start, not now
        assert live_collection() == collection_name(model, candidate)
        assert registry.resolve(f"{model}@champion").version == candidate
        assert versions_seen(state.gateway_url, key, model) == Counter({str(candidate): len(USERS)})

        rolled_back = yard(settings, "rollback", model, "--reason", "integration test")
        assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
        assert live_collection() == collection_name(model, champion)
        assert registry.resolve(f"{model}@champion").version == champion
        assert versions_seen(state.gateway_url, key, model) == Counter({str(champion): len(USERS)})
    result = load.result()
    assert result.requests > 50
    assert result.errors == 0, result.failures
    candidates = json.loads((settings.state_dir / "serving" / "candidates.json").read_text())
    assert candidates["candidates"] == {}
