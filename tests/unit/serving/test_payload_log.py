"""The transformer's payload log: shared columns, sampling, the per-model switch, and failures that
are counted in /metrics but never raised into a request (real writer, real files, no servers)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from modelyard.payloads import read_payloads
from modelyard.settings import Settings
from serving.transformer.payload_log import PayloadLog


def _failed_rows(model: str, version: int) -> float:
    labels = {"model": model, "version": str(version), "outcome": "failed"}
    return REGISTRY.get_sample_value("modelyard_transformer_payload_rows_total", labels) or 0.0


def test_rows_get_the_shared_columns_and_their_index(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    log = PayloadLog(settings, "ranking", 4)
    log.record("req-1", 0.012, lambda: [{"user": 7, "items": [3, 1], "scores": [0.9, 0.4]}, {"user": 8}])
    log.close()
    rows = read_payloads(settings, "ranking", version=4).to_pylist()
    assert [(r["request_id"], r["index"], r["user"], r["version"]) for r in rows] == [
        ("req-1", 0, 7, "4"),
        ("req-1", 1, 8, "4"),
    ]
    assert rows[0]["latency_ms"] == pytest.approx(12.0)
    assert rows[0]["items"] == [3, 1] and rows[1]["items"] is None and rows[0]["text"] is None


@pytest.mark.parametrize(
    "overrides", [{"payload_sample_rate": 0.0}, {"payload_log_disabled": ["moderation"]}]
)
def test_switched_off_starts_no_writer_and_builds_no_rows(tmp_path: Path, overrides: dict) -> None:
    log = PayloadLog(Settings(state_dir=tmp_path, **overrides), "moderation", 1)
    assert log.sink is None
    log.record("r", 0.001, lambda: pytest.fail("rows built although logging is off"))


def test_sampling_logs_about_the_set_share(tmp_path: Path) -> None:
    random.seed(18)
    settings = Settings(state_dir=tmp_path, payload_sample_rate=0.25)
    log = PayloadLog(settings, "moderation", 1)
    for i in range(400):
        log.record(f"r{i}", 0.001, lambda: [{"text": "t", "decision": "allow"}])
    log.close()
    assert 60 <= read_payloads(settings, "moderation").num_rows <= 140


def test_a_failing_row_builder_is_counted_not_raised(tmp_path: Path) -> None:
    log = PayloadLog(Settings(state_dir=tmp_path), "visual-search", 901)
    before = _failed_rows("visual-search", 901)
    log.record("r", 0.001, lambda: [{"no_such_column_type": object()}][5])
    log.close()
    assert _failed_rows("visual-search", 901) == before + 1


def test_an_unwritable_payload_dir_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "payloads"
    blocker.write_text("a file where the folder should be")
    log = PayloadLog(Settings(state_dir=tmp_path, payload_dir=blocker), "moderation", 902)
    log.record("r", 0.001, lambda: [{"text": "a"}, {"text": "b"}])
    log.close()
    assert _failed_rows("moderation", 902) == 2
