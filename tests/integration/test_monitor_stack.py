"""Issue 18's "done when" for monitoring, on the real stack (``served_stack``): windows of 300
requests through the gateway, logged by the transformers, tested by ``monitoring.run`` against
the profile each smoke-trained version stored at training time.

moderation: three windows of corpus emails the smoke run never saw raise no alarm, a window of a
spam campaign in a style the corpus lacks (short, non-English, emoji, links) drifts.
visual-search: three windows of Fashion-MNIST test images raise no alarm, a window of the same
images inverted drifts; ``yard simulate visual-search --drift rotate`` sees no drift in its test
images and drift in its rotated ones (their pixel statistics barely move: the embedding must see it).
ranking: ``yard simulate ranking --drift popularity`` sees no drift in validation users and drift
in a wave of long-tail users, and the monitor reports the CTR and AUC of their simulated clicks.
The last window of each series is read through the real ``yard monitor --json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from loop.traffic import invert
from modelyard.data import load
from modelyard.payloads import read_payloads
from modelyard.registry import Registry
from monitoring import run
from serving.stack.client import read_api_key
from training.moderation.task import ModerationTask, corpus_frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW = 300
IN_DISTRIBUTION_WINDOWS = 3
SENDERS = 8
READ_BACK_TIMEOUT_S = 30.0
RANKING_FEEDBACK_SHARE = 0.2
"""Answers whose user's clicks are posted in the ranking simulation (ten feedback calls each)."""
CAMPAIGN = (
    "🔥 {n} ¡Gana dinero rápido desde casa! Visita https://bit.ly/g{n} ahora 💰",
    "💊 Descuento exclusivo {n}% — pedido en https://farma{n}.example/oferta sin receta ✅",
    "🎁 Has ganado un premio nº {n}: reclámalo en https://premio{n}.example hoy mismo 🚀",
)


@pytest.fixture(scope="module")
def gateway(served_stack) -> Iterator[httpx.Client]:
    settings, state, _ = served_stack
    limits = httpx.Limits(max_connections=SENDERS)
    headers = {"x-api-key": read_api_key(settings)}
    with httpx.Client(base_url=state.gateway_url, headers=headers, timeout=60, limits=limits) as client:
        yield client


def send_window(
    served_stack, gateway: httpx.Client, model: str, bodies: list[dict], tag: str
) -> tuple[float, float]:
    """Send each body as one request (``SENDERS`` at a time); wait until the log holds them all;
    return the window (since, until) in unix seconds."""
    settings, _, _ = served_stack
    since = time.time()

    def send(item: tuple[int, dict]) -> None:
        index, body = item
        answer = gateway.post(
            f"/v1/models/{model}:predict", json=body, headers={"x-request-id": f"{tag}-{index}"}
        )
        assert answer.status_code == 200, answer.text

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, enumerate(bodies)))
    until = time.time() + 0.001
    deadline = time.monotonic() + READ_BACK_TIMEOUT_S
    while read_payloads(settings, model, since=since, until=until).num_rows < len(bodies):
        assert time.monotonic() < deadline, f"{model}: the log never held the window's {len(bodies)} rows"
        time.sleep(0.5)
    return since, until


def verdicts(served_stack, gateway, model: str, make: Callable[[int, bool], list[dict]]) -> list[dict]:
    """``IN_DISTRIBUTION_WINDOWS`` windows of ``make(window, False)`` then one of ``make(w, True)``."""
    settings, _, untrained = served_stack
    if model in untrained:
        pytest.skip(f"{model} is not served: {untrained[model]}")
    results = []
    for window in range(IN_DISTRIBUTION_WINDOWS):
        since, until = send_window(served_stack, gateway, model, make(window, False), f"{model}-in{window}")
        results.append(run(settings, model, moment(since), moment(until)))
    since, until = send_window(
        served_stack, gateway, model, make(IN_DISTRIBUTION_WINDOWS, True), f"{model}-out"
    )
    results.append(yard_monitor(settings, model, moment(since).isoformat(), moment(until).isoformat()))
    return results


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def yard_monitor(settings, model: str, since: str, until: str) -> dict:
    """The real command, in its own process, as an operator runs it."""
    return yard_json(settings, "monitor", model, "--since", since, "--until", until)


def yard_json(settings, *arguments: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """``yard ARGUMENTS --json`` in its own process: its printed document."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "yard"), *arguments, "--json"],
        env={**os.environ, "MODELYARD_STATE_DIR": str(settings.state_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def summary(results: list[dict]) -> str:
    return json.dumps(
        [
            {
                "drift": r["drift"],
                "requests": r["requests"],
                "drifted": [s["name"] for s in r["signals"] if s["drift"]],
                "smallest p": min((s["p_value"] for s in r["signals"]), default=None),
            }
            for r in results
        ]
    )


def test_moderation_drifts_on_a_new_spam_campaign_and_not_on_corpus_emails(served_stack, gateway) -> None:
    settings, _, _ = served_stack
    raw = load("spamassassin", settings).frame
    trained_on, _ = corpus_frame(raw, smoke=True, seed=ModerationTask.default_config["seed"])
    emails = raw["text"].to_numpy()[np.setdiff1d(np.arange(len(raw)), trained_on["row"])]  # held out
    order = np.random.default_rng(18).permutation(len(emails))

    def make(window: int, shifted: bool) -> list[dict]:
        if shifted:
            texts = [CAMPAIGN[i % len(CAMPAIGN)].format(n=i) for i in range(WINDOW)]
        else:
            texts = emails[order[window * WINDOW : (window + 1) * WINDOW]].tolist()
        return [{"instances": [{"text": text}]} for text in texts]

    results = verdicts(served_stack, gateway, "moderation", make)
    print(summary(results))
    assert [r["drift"] for r in results] == [False] * IN_DISTRIBUTION_WINDOWS + [True], summary(results)
    assert all(r["requests"] == WINDOW for r in results), summary(results)
    drifted = {s["name"] for s in results[-1]["signals"] if s["drift"]}
    assert {"words", "non_ascii_share", "unseen_word_share"} <= drifted, summary(results)


def test_visual_search_drifts_on_inverted_images_and_not_on_test_images(served_stack, gateway) -> None:
    settings, _, _ = served_stack
    images = load("fashion-mnist", settings).test_images
    order = np.random.default_rng(18).permutation(len(images))

    def make(window: int, shifted: bool) -> list[dict]:
        chosen = images[order[window * WINDOW : (window + 1) * WINDOW]].astype(np.int64)
        chosen = invert(chosen) if shifted else chosen
        return [{"instances": [{"pixels": image.tolist()}], "k": 5} for image in chosen]

    results = verdicts(served_stack, gateway, "visual-search", make)
    print(summary(results))
    assert [r["drift"] for r in results] == [False] * IN_DISTRIBUTION_WINDOWS + [True], summary(results)
    assert all(r["requests"] == WINDOW for r in results), summary(results)
    drifted = {s["name"] for s in results[-1]["signals"] if s["drift"]}
    assert {"pixel_mean", "embedding"} <= drifted, summary(results)


def test_yard_simulate_visual_search_rotate_sees_drift_only_in_the_rotated_window(served_stack) -> None:
    """The real ``yard simulate visual-search --drift rotate --json``, in its own process: test
    images, then quarter-turned ones; visual-search gets no labels, so it stops at the verdicts."""
    settings, _, untrained = served_stack
    if "visual-search" in untrained:
        pytest.skip(f"visual-search is not served: {untrained['visual-search']}")
    result = yard_json(settings, "simulate", "visual-search", "--drift", "rotate")
    windows = [result["windows"][name]["monitor"] for name in ("in-distribution", "shifted")]
    print(summary(windows))
    assert [w["drift"] for w in windows] == [False, True], summary(windows)
    assert all(w["requests"] == WINDOW for w in windows), summary(windows)
    assert "embedding" in {s["name"] for s in windows[1]["signals"] if s["drift"]}, summary(windows)
    assert result["timeline"][-1]["event"] == "no retrain", result["timeline"]


@pytest.mark.timeout(2400)  # a smoke retrain of ranking: minutes on a busy 2-core machine
def test_yard_simulate_ranking_popularity_sees_drift_only_in_the_long_tail_wave(served_stack) -> None:
    """The real ``yard simulate ranking --drift popularity --json``: validation users asked as the
    reference profile asks them, then a wave of long-tail users (``loop.clicks``); their simulated
    clicks reach the monitor as feedback (CTR, AUC of the served scores). Then the real
    ``yard retrain ranking --no-rollout --json`` learns from those clicks: a new version trained
    on them, judged by the gate on the held-out set and on the newer half of the clicks (the
    canary is left out here, so the shared stack keeps serving its champion)."""
    settings, _, untrained = served_stack
    if "ranking" in untrained:
        pytest.skip(f"ranking is not served: {untrained['ranking']}")
    share = str(RANKING_FEEDBACK_SHARE)
    since = moment(time.time()).isoformat()
    result = yard_json(
        settings, "simulate", "ranking", "--drift", "popularity", "--feedback-share", share, "--no-retrain"
    )
    windows = [result["windows"][name]["monitor"] for name in ("in-distribution", "shifted")]
    print(summary(windows), json.dumps([w["online"] for w in windows]))
    assert [w["drift"] for w in windows] == [False, True], summary(windows)
    assert all(w["requests"] == WINDOW for w in windows), summary(windows)
    drifted = {s["name"] for s in windows[1]["signals"] if s["drift"]}
    assert "mean_item_popularity" in drifted, summary(windows)
    for window in windows:  # every click posted joins a served (request, item)
        online = window["online"]
        assert online["joined"] == online["feedback"] > 0 and 0 < online["ctr"] < 1, online
        assert online["auc"] is not None, online

    # Its own local Ray, in a short folder: Ray's socket paths may not exceed 107 bytes.
    with tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp") as ray_dir:
        retrained = yard_json(
            settings,
            *("retrain", "ranking", "--since", since, "--no-rollout"),
            env={"MODELYARD_RAY_TEMP_DIR": ray_dir},
            timeout=1800,
        )
    trained, feedback = retrained["trained"], retrained["feedback"]
    print(json.dumps({"feedback": feedback, "alias": trained["alias"], "reason": trained["reason"]}))
    joined = sum(w["online"]["joined"] for w in windows)
    assert feedback["rows"] == joined and feedback["train"] > 0 and feedback["recent"] > 0, feedback
    assert trained["version"] > trained["champion_version"], trained
    assert {"recent_auc", "recent_champion_auc"} <= set(trained["metrics"]), trained["metrics"]
    assert trained["alias"] in ("challenger", None), trained  # the gate's decision, and why:
    assert "recent window" in trained["reason"] or "worse than champion" in trained["reason"], trained
    registered = Registry(settings).resolve(f"ranking/{trained['version']}")
    assert registered.metrics["recent_auc"] == pytest.approx(trained["metrics"]["recent_auc"])
    assert registered.params["feedback_train_rows"] == str(feedback["train"]), registered.params  # lineage
