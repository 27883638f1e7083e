"""A canary on the real stack: a second moderation version trained and registered, Triton
loading it next to the champion (explicit model control), a second real KServe transformer,
and the real gateway splitting users between the two versions.

Runs before test_stack.py (file order) and leaves the stack as it found it: the rollout is
rolled back, the candidate transformer stopped and its version unloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from modelyard.registry import Registry
from serving.stack.client import read_api_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "moderation"
YARD = str(Path(sys.executable).parent / "yard")
USERS = [f"user-{i}" for i in range(120)]


def yard(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MODELYARD_STATE_DIR": str(settings.state_dir),
        "MODELYARD_SPAMASSASSIN_SOURCE": str(settings.spamassassin_source),
        "MODELYARD_DEVICE": "cpu",
        "MODELYARD_LOG_FORMAT": "json",
    }
    command = [YARD, "rollout", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


def versions_seen(gateway_url: str, key: str) -> Counter:
    seen: Counter = Counter()
    with httpx.Client(base_url=gateway_url, headers={"x-api-key": key}, timeout=60) as client:
        for user in USERS:
            body = {"instances": [{"text": f"Win a free cruise now, {user}!"}]}
            answer = client.post(f"/v1/models/{MODEL}:predict", json=body, headers={"x-user-id": user})
            assert answer.status_code == 200, answer.text
            seen[answer.headers["x-modelyard-version"]] += 1
    return seen


def test_canary_of_a_real_second_version_then_rollback(served_stack) -> None:
    from training.cluster import ray_session
    from training.runner import TrainOptions, train

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
