"""The transformer's payload log: shared columns, sampling, the per-model switch, and failures that
are counted in /metrics but never raised into a request (real writer, real files, no servers)."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest
from kserve.protocol.infer_type import InferRequest, InferResponse
from prometheus_client import REGISTRY

from modelyard.payloads import ParquetSink, read_payloads
from modelyard.settings import Settings
from serving.transformer.base import Transformer
from serving.transformer.payload_log import PayloadLog
from serving.transformer.predictor import TritonPredictor
from serving.transformer.version import VersionState


def _rows(model: str, version: int, outcome: str) -> float:
    labels = {"model": model, "version": str(version), "outcome": outcome}
    return REGISTRY.get_sample_value("modelyard_transformer_payload_rows_total", labels) or 0.0


def test_rows_get_the_shared_columns_and_their_index(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    log = PayloadLog(settings, "ranking", 4)
    log.record(
        "req-1", 0.012, 2, lambda: {"user": [7, 8], "items": [[3, 1], None], "scores": [[0.9, 0.4], None]}
    )
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
    log.record("r", 0.001, 1, lambda: pytest.fail("rows built although logging is off"))


def test_sampling_logs_about_the_set_share(tmp_path: Path) -> None:
    random.seed(18)
    settings = Settings(state_dir=tmp_path, payload_sample_rate=0.25)
    log = PayloadLog(settings, "moderation", 1)
    for i in range(400):
        log.record(f"r{i}", 0.001, 1, lambda: {"text": ["t"], "decision": ["allow"]})
    log.close()
    assert 60 <= read_payloads(settings, "moderation").num_rows <= 140


def test_a_failing_row_builder_is_counted_not_raised(tmp_path: Path) -> None:
    log = PayloadLog(Settings(state_dir=tmp_path), "visual-search", 901)
    before = _rows("visual-search", 901, "failed")
    log.record("r", 0.001, 3, lambda: [{"text": "t"}][5])
    log.close()
    assert _rows("visual-search", 901, "failed") == before + 3


def test_an_unwritable_payload_dir_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "payloads"
    blocker.write_text("a file where the folder should be")
    log = PayloadLog(Settings(state_dir=tmp_path, payload_dir=blocker), "moderation", 902)
    log.record("r", 0.001, 2, lambda: {"text": ["a", "b"]})
    log.close()
    assert _rows("moderation", 902, "failed") == 2


class EchoTransformer(Transformer[list[str], list[str]]):
    """The smallest model on the shared transformer code: answers each text with itself. A test
    model, not a fake of a real part: what is tested is the base class's path to the payload log."""

    def prepare(self) -> None:
        pass

    def parse_v1(self, body: Any) -> list[str]:
        return list(body["instances"])

    def parse_v2(self, request: InferRequest) -> list[str]:
        raise NotImplementedError

    def batch_size(self, request: list[str]) -> int:
        return len(request)

    async def run(self, request: list[str], request_id: str) -> list[str]:
        return request

    def encode_v1(self, request: list[str], result: list[str]) -> list[Any]:
        return result

    def encode_v2(self, request: list[str], result: list[str], request_id: str) -> InferResponse:
        raise NotImplementedError

    def payload_columns(self, request: list[str], result: list[str]) -> dict[str, Any]:
        return {"text": result}


@pytest.mark.anyio
@pytest.mark.parametrize("sink", ["full", "unwritable"])
async def test_a_full_or_unwritable_log_still_answers_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: str
) -> None:
    """Through the transformer's whole request path (kserve's ``Model.__call__``): a writer stalled
    behind a one-request buffer, or a log folder that is a file, costs rows, never an answer."""
    version = 903 if sink == "full" else 904
    release = threading.Event()
    if sink == "full":
        run = ParquetSink._run
        monkeypatch.setattr(ParquetSink, "_run", lambda self: (release.wait(), run(self)))  # a stalled disk
        settings = Settings(state_dir=tmp_path, payload_queue_size=1)
    else:
        blocker = tmp_path / "payloads"
        blocker.write_text("a file where the folder should be")
        settings = Settings(state_dir=tmp_path, payload_dir=blocker)
    state = VersionState("moderation", version, tmp_path, preprocessing={}, signature={})
    transformer = EchoTransformer(state, TritonPredictor("127.0.0.1:1", "grpc-v2"), settings)
    transformer.load()
    replies = [await transformer({"instances": [f"text {i}", "b"]}, {}) for i in range(5)]
    answers = [body for body, _headers in replies]
    release.set()
    transformer.stop()
    assert [answer["predictions"] for answer in answers] == [[f"text {i}", "b"] for i in range(5)]
    if sink == "full":  # the first request's rows were held, the other four's dropped
        assert (_rows("moderation", version, "dropped"), _rows("moderation", version, "written")) == (8, 2)
    else:
        assert _rows("moderation", version, "failed") == 10
