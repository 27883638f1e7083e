"""``monitoring.run`` and ``yard monitor`` over payload logs written by the real writer
(``modelyard.payloads``), against a profile built by the real signal functions; the gateway's
drift gauges read what the run leaves behind. No registry: the profile sits where the monitor
caches downloaded ones."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from typer.testing import CliRunner

from modelyard.payloads import FEEDBACK_SCHEMA, PAYLOAD_SCHEMA, Chunk, ParquetSink, payload_partition
from modelyard.settings import Settings
from monitoring import run
from monitoring.profiles import cached_profile_path
from monitoring.report import latest_path
from serving.gateway.metrics import GatewayMetrics
from training.moderation import signals as moderation
from training.profile import build_profile

THRESHOLDS = {"spam": {"review": 0.5, "block": 0.9, "short_words": 5, "short_review": 0.6}}
COMMON = [f"word{i}" for i in range(400)]
RARE = [f"zq{i}xx" for i in range(400)]


def texts(rng: np.random.Generator, rows: int, shifted: bool = False) -> tuple[list[str], np.ndarray]:
    """Texts of 10-60 common words with an occasional link, and spam scores; a shifted batch is
    long, link-heavy, in words training never saw, and scored higher."""
    out = []
    for _ in range(rows):
        words = rng.choice(
            RARE if shifted else COMMON, size=rng.integers(60, 120) if shifted else rng.integers(10, 60)
        )
        links = ["urltoken"] * (3 if shifted else int(rng.uniform() < 0.1))
        out.append(" ".join([*words.tolist(), *links]))
    return out, rng.beta(5 if shifted else 1, 3, rows)[:, None]


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(state_dir=tmp_path)
    rng = np.random.default_rng(0)
    reference, scores = texts(rng, 1000)
    context = {"vocabulary": COMMON, "heads": ["spam"]}
    words = np.array([len(t.split()) for t in reference])
    decisions = moderation.decide(scores, words, THRESHOLDS, ["spam"])
    profile = build_profile(
        "moderation", moderation.signals(reference, scores, decisions, ["spam"], context), context
    )
    path = cached_profile_path(settings, "moderation", "1")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(profile))
    return settings


def log_window(
    settings: Settings, rng: np.random.Generator, rows: int, start: float, shifted: bool = False
) -> None:
    batch, scores = texts(rng, rows, shifted)
    words = np.array([len(t.split()) for t in batch])
    decisions = moderation.decide(scores, words, THRESHOLDS, ["spam"])
    sink = ParquetSink(settings.payload_dir, PAYLOAD_SCHEMA)
    sink.offer(
        payload_partition("moderation", 1),
        Chunk(
            rows,
            {"model": "moderation", "version": "1", "index": 0, "latency_ms": 1.0},
            {
                "time": [start + i for i in range(rows)],
                "request_id": [f"r{start + i}" for i in range(rows)],
                "text": batch,
                "scores": scores[:, :1].astype(np.float32),
                "decision": [str(d) for d in decisions],
            },
        ),
    )
    sink.close()


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_three_in_distribution_windows_then_a_shifted_one(settings) -> None:
    rng = np.random.default_rng(1)
    base = int(time.time()) - 10_000
    for window in range(4):
        log_window(settings, rng, 300, base + window * 1000, shifted=window == 3)
    verdicts = [
        run(settings, "moderation", moment(base + w * 1000), moment(base + w * 1000 + 999)) for w in range(4)
    ]
    assert [v["drift"] for v in verdicts] == [False, False, False, True]
    assert [(v["requests"], v["version"]) for v in verdicts] == [(300, "1")] * 4
    shifted = {s["name"]: s for s in verdicts[3]["signals"]}
    assert shifted["unseen_word_share"]["drift"] and shifted["spam_score"]["drift"]
    assert {s["kind"] for s in verdicts[3]["signals"]} == {"feature", "prediction", "category"}
    for signal in verdicts[3]["signals"]:
        assert {"name", "kind", "statistic", "threshold", "p_value", "drift"} <= set(signal)
    assert json.loads(latest_path(settings, "moderation").read_text())["drift"] is True


def test_the_gateway_exposes_the_latest_result_as_gauges(settings) -> None:
    rng = np.random.default_rng(2)
    start = int(time.time()) - 5000
    log_window(settings, rng, 300, start, shifted=True)
    run(settings, "moderation", moment(start), moment(start + 1000))
    exposition = GatewayMetrics(latest_path(settings, "moderation").parent).exposition().decode()
    assert 'modelyard_drift{model="moderation",signal="overall"} 1.0' in exposition
    assert 'modelyard_drift{model="moderation",signal="unseen_word_share"} 1.0' in exposition
    assert 'modelyard_drift_statistic{model="moderation",signal="overall"} 300.0' in exposition


def test_an_empty_window_is_no_drift_and_says_why(settings) -> None:
    result = run(settings, "moderation", moment(0), moment(10))
    assert result["drift"] is False and result["requests"] == 0 and "no logged traffic" in result["note"]


def test_moderation_feedback_gives_precision_and_recall(settings) -> None:
    rng = np.random.default_rng(3)
    start = int(time.time()) - 3000
    log_window(settings, rng, 100, start)
    payload_rows = run(settings, "moderation", moment(start), moment(start + 200))
    sink = ParquetSink(settings.feedback_dir, FEEDBACK_SCHEMA)
    labels = {"request_id": [f"r{start + i}" for i in range(100)], "label": [1] * 100}
    sink.offer("moderation", Chunk(100, {"time": start + 150, "model": "moderation"}, labels))
    sink.close()
    online = run(settings, "moderation", moment(start), moment(start + 200))["online"]
    assert payload_rows["online"]["joined"] == 0 and online["joined"] == 100
    assert online["block_precision"] in (None, 1.0) and online["flag_precision"] in (None, 1.0)
    assert 0 <= online["flag_recall"] <= 1


def test_yard_monitor_prints_a_table_or_one_json_object(settings, monkeypatch) -> None:
    from yard.main import app

    rng = np.random.default_rng(4)
    start = int(time.time()) - 1000
    log_window(settings, rng, 300, start)
    monkeypatch.setenv("MODELYARD_STATE_DIR", str(settings.state_dir))
    runner = CliRunner()
    as_json = runner.invoke(app, ["monitor", "moderation", "--since", "2000s", "--json"])
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.output)
    assert result["drift"] is False and result["requests"] == 300 and len(result["signals"]) == 8
    table = runner.invoke(app, ["monitor", "moderation", "--since", "2000s"])
    assert table.exit_code == 0 and "unseen_word_share" in table.output and "no drift" in table.output
    bad = runner.invoke(app, ["monitor", "moderation", "--since", "yesterday"])
    assert bad.exit_code != 0


def test_the_cronjobs_command_creates_one_rayjob_on_drift_on_a_fake_api_server(
    settings, monkeypatch, tmp_path
) -> None:
    """The chart's CronJob command (`yard monitor MODEL --since W --json --submit-rayjob FILE`)
    with the API server played by FakeRayJobApiServer (none can run here): a calm window creates
    nothing; a shifted one creates the RayJob for exactly its window; the next check does not
    double it while it runs."""
    from loop import rayjob
    from tests.unit.loop.fake_rayjob_api import FakeRayJobApiServer
    from yard.main import app

    server = FakeRayJobApiServer()
    monkeypatch.setattr(rayjob.InClusterRayJobs, "from_pod", classmethod(lambda cls: server.api()))
    # get_settings() is cached per process: an earlier test's state dir must not answer here
    monkeypatch.setattr("yard.monitor.get_settings", lambda: settings)
    manifest = tmp_path / "rayjob.yaml"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "ray.io/v1",
                "kind": "RayJob",
                "metadata": {"name": "modelyard-retrain-moderation"},
                "spec": {"entrypoint": "yard retrain moderation --no-rollout"},
            }
        )
    )
    command = ["monitor", "moderation", "--since", "2000s", "--json", "--submit-rayjob", str(manifest)]
    rng = np.random.default_rng(5)
    log_window(settings, rng, 300, int(time.time()) - 1000)
    calm = CliRunner().invoke(app, command)
    assert calm.exit_code == 0, calm.output
    assert json.loads(calm.output)["drift"] is False and json.loads(calm.output)["rayjob"] is None
    assert server.calls == []

    log_window(settings, rng, 300, int(time.time()) - 500, shifted=True)
    checks = [json.loads(CliRunner().invoke(app, command).output) for _ in range(2)]
    assert [(c["drift"], c["requests"]) for c in checks] == [(True, 600), (True, 600)]
    assert [c["rayjob"]["created"] for c in checks] == [True, False]
    (posted,) = server.created
    assert checks[1]["rayjob"]["rayjob"] == posted["metadata"]["name"]
    assert posted["spec"]["entrypoint"] == (
        f"yard retrain moderation --no-rollout --since {checks[0]['since']} --until {checks[0]['until']}"
    )
