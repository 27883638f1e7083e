"""The three KServe transformers as real processes in front of a real Triton and real Qdrant.

Setup mirrors a deployment: tiny versions exported by the training tasks' own code, visual-search
and ranking registered in MLflow (embedded sqlite) and indexed with ``yard index``, moderation
served from its exported folder; Triton holds each model at version == MLflow version. Each
transformer runs ``python -m serving.transformer`` on free loopback ports; ranking's runs without a
data catalog (a deployed version answers from its own files). The gRPC conformance check runs
``tritonclient.grpc`` in a child process (it cannot share one with kserve).
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import numpy as np
import psutil
import pytest
import tritonclient.http as httpclient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from modelyard.net import free_ports
from modelyard.registry import Registry
from modelyard.settings import Settings
from serving.triton.server import TritonServer
from tests.integration.transformer_versions import (
    moderation_version,
    ranking_version,
    serve_versions,
    visual_search_version,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRPC_CLIENT = Path(__file__).with_name("transformer_grpc_client.py")
READY_TIMEOUT_S = 180.0
MODERATION_VERSION = 2
"""Served from its folder as version 2: Triton holds only version 2, so a wrong pin would fail."""


@dataclass
class Transformer:
    model: str
    version: int
    url: str
    grpc_url: str
    process: subprocess.Popen
    log_path: Path

    def predict(self, body: object, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/models/{self.model}:predict", json=body, timeout=30, **kwargs)

    def infer(self, body: object) -> httpx.Response:
        return httpx.post(f"{self.url}/v2/models/{self.model}/infer", json=body, timeout=30)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@dataclass
class Stack:
    triton: TritonServer
    transformers: dict[str, Transformer]
    no_qdrant: Transformer
    """visual-search pointed at a Qdrant server that is not there."""
    ranking_dir: Path
    """The exported ranking version (its preprocessing.json)."""


def _environment(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MODELYARD_STATE_DIR": str(settings.state_dir),
        "MODELYARD_DEVICE": "cpu",
        "MODELYARD_LOG_FORMAT": "json",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **extra,
    }


def _register(settings: Settings, model: str, folder: Path) -> int:
    registry = Registry(settings)
    with registry.start_run(model, run_name="transformer-test") as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    return registry.register(run.info.run_id, "model", model).version


def _index(settings: Settings, model: str, version: int, limit: int, log_dir: Path) -> subprocess.Popen:
    yard = Path(sys.executable).parent / "yard"
    with (log_dir / f"index-{model}.log").open("wb") as log:
        return subprocess.Popen(
            [str(yard), "index", model, "--version", str(version), "--limit", str(limit)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_environment(settings),
        )


def _start_transformer(
    settings: Settings,
    triton: TritonServer,
    log_dir: Path,
    model: str,
    version: int,
    flags: tuple[str, ...],
    *,
    rest_predictor: bool = False,
    env: dict[str, str] | None = None,
) -> Transformer:
    """``python -m serving.transformer`` as the supervisor runs it; Triton over gRPC or REST v2."""
    http_port, grpc_port = free_ports(2)
    log_path = log_dir / f"transformer-{model}-{http_port}.log"
    predictor = (triton.url.removeprefix("http://"), "v2") if rest_predictor else (triton.grpc_url, "grpc-v2")
    command = [
        sys.executable, "-m", "serving.transformer",
        "--model_name", model,
        "--predictor_host", predictor[0],
        "--predictor_protocol", predictor[1],
        "--http_port", str(http_port),
        "--grpc_port", str(grpc_port),
        *flags,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_environment(settings, **(env or {})),
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{http_port}"
    return Transformer(model, version, url, f"127.0.0.1:{grpc_port}", process, log_path)


def _wait_ready(transformer: Transformer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if transformer.process.poll() is not None:
            pytest.fail(f"{transformer.model} transformer exited:\n{transformer.log_tail()}")
        try:
            if httpx.get(f"{transformer.url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(
        f"{transformer.model} transformer not ready in {READY_TIMEOUT_S} s:\n{transformer.log_tail()}"
    )


def _stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every transformer at once (each takes a few seconds to drain), then wait."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("transformers")
    settings = Settings(state_dir=root / "state", device="cpu")
    logs = root / "logs"
    logs.mkdir()
    serve_root = root / "serve"
    search_dir, search_models = visual_search_version(root / "export" / "visual-search", settings)
    moderation_dir, moderation_models = moderation_version(root / "export" / "moderation")
    ranking_dir, ranking_models = ranking_version(root / "export" / "ranking", settings)
    search_v = _register(settings, "visual-search", search_dir)
    ranking_v = _register(settings, "ranking", ranking_dir)
    Registry(settings).set_alias("ranking", "champion", ranking_v)
    serve_versions(serve_root, search_models, search_v)
    serve_versions(serve_root, moderation_models, MODERATION_VERSION)
    serve_versions(serve_root, ranking_models, ranking_v)
    # limit 260: MovieLens items 267 and 1412 have no year, which RankingItemSource cannot index yet.
    indexers = [
        _index(settings, "visual-search", search_v, 2000, logs),
        _index(settings, "ranking", ranking_v, 260, logs),
    ]
    http, grpc, metrics = free_ports(3)
    triton = TritonServer(serve_root, http_port=http, grpc_port=grpc, metrics_port=metrics, settings=settings)
    triton.start()
    processes: list[subprocess.Popen] = []
    try:
        for indexer in indexers:
            assert indexer.wait(timeout=300) == 0, (logs / "index-visual-search.log").read_text()[-2000:]
        moderation_flags = ("--version", str(MODERATION_VERSION), "--artifact_dir", str(moderation_dir))
        search_flags = ("--version", str(search_v))
        no_catalog = {  # where the data catalog would be: empty, and no MovieLens source
            "MODELYARD_DATA_DIR": str(root / "no-data"),
            "MODELYARD_MOVIELENS_SOURCE": str(root / "no-movielens"),
        }
        transformers = {
            "visual-search": _start_transformer(
                settings, triton, logs, "visual-search", search_v, search_flags
            ),
            "moderation": _start_transformer(
                settings, triton, logs, "moderation", MODERATION_VERSION, moderation_flags
            ),
            # ranking reaches Triton over REST v2, the others over gRPC: both predictor protocols run.
            "ranking": _start_transformer(
                settings,
                triton,
                logs,
                "ranking",
                ranking_v,
                ("--alias", "champion"),
                rest_predictor=True,
                env=no_catalog,
            ),
        }
        dead_qdrant = {"MODELYARD_QDRANT_URL": f"http://127.0.0.1:{free_ports(1)[0]}"}
        no_qdrant = _start_transformer(
            settings, triton, logs, "visual-search", search_v, search_flags, env=dead_qdrant
        )
        processes = [t.process for t in (*transformers.values(), no_qdrant)]
        triton.wait_ready(READY_TIMEOUT_S)
        for transformer in (*transformers.values(), no_qdrant):
            _wait_ready(transformer)
        yield Stack(triton, transformers, no_qdrant, ranking_dir)
    finally:
        _stop_all(processes)
        for indexer in indexers:
            if indexer.poll() is None:
                indexer.kill()
        triton.stop()


def _png_b64(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _assert_version_headers(response: httpx.Response, transformer: Transformer) -> None:
    assert response.headers["x-modelyard-model"] == transformer.model
    assert response.headers["x-modelyard-version"] == str(transformer.version)


# --- visual-search ----------------------------------------------------------------------


def test_visual_search_v1_finds_neighbours_with_filter(stack: Stack) -> None:
    search = stack.transformers["visual-search"]
    item = np.zeros((40, 40))
    item[8:32, 12:28] = 220  # a bright item on black, larger than 28x28 (resized)
    body = {
        "instances": [
            {"image_b64": _png_b64(item)},
            {"pixels": (item[6:34, 6:34] / 255).tolist()},
            {"id": 7},
        ],
        "k": 4,
        "filter": {"label": [1, 3]},
    }
    response = search.predict(body)
    assert response.status_code == 200, response.text
    _assert_version_headers(response, search)
    answer = response.json()
    assert (answer["model"], answer["version"]) == ("visual-search", search.version)
    assert [len(hits) for hits in answer["predictions"]] == [4, 4, 4]
    for hits in answer["predictions"]:
        assert {hit["label"] for hit in hits} <= {1, 3}
        voted = [hit["score"] for hit in hits if hit["label"] == hits[0]["label"]]
        rest = [hit["score"] for hit in hits if hit["label"] != hits[0]["label"]]
        # the voted class first, each group by similarity
        assert [hit["score"] for hit in hits] == voted + rest
        assert voted == sorted(voted, reverse=True) and rest == sorted(rest, reverse=True)
    assert 7 not in {hit["id"] for hit in answer["predictions"][2]}  # "more like this" skips itself


def test_visual_search_similarity_order_is_by_score_alone(stack: Stack) -> None:
    search = stack.transformers["visual-search"]
    body = {"instances": [{"id": 7}], "k": 20}
    class_first = search.predict(body).json()["predictions"][0]
    similarity = search.predict({**body, "order": "similarity"}).json()["predictions"][0]
    scores = [hit["score"] for hit in similarity]
    assert len(similarity) == 20 and scores == sorted(scores, reverse=True)
    voted = class_first[0]["label"]
    assert [hit["label"] for hit in class_first] == sorted(
        (hit["label"] for hit in class_first), key=lambda label: label != voted
    )


def test_visual_search_v2_image_tensor(stack: Stack) -> None:
    search = stack.transformers["visual-search"]
    images = np.random.default_rng(0).random((2, 28, 28)).astype(np.float32)
    body = {
        "inputs": [
            {"name": "image", "datatype": "FP32", "shape": [2, 28, 28], "data": images.ravel().tolist()}
        ],
        "parameters": {"k": 3},
    }
    response = search.infer(body)
    assert response.status_code == 200, response.text
    _assert_version_headers(response, search)
    outputs = {output["name"]: output for output in response.json()["outputs"]}
    assert outputs["ids"]["shape"] == [2, 3] and outputs["scores"]["datatype"] == "FP32"
    assert response.json()["model_version"] == str(search.version)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [{"image_b64": "not base64!"}]}, "base64"),
        ({"instances": [{"image_b64": base64.b64encode(b"GIF89a garbage").decode()}]}, "not a PNG or JPEG"),
        ({"instances": [{"pixels": [[0] * 27] * 28}]}, "shape"),
        ({"instances": [{"id": 1}], "k": 0}, '"k"'),
        ({"instances": [{"id": 1}], "filter": {"label": {"near": 3}}}, "filter"),
        ({"instances": [{"id": 1}] * 65}, "at most 64"),
        ({"instances": [{"id": 10_000_000}]}, "no points"),
        ({"queries": []}, "instances"),
    ],
)
def test_visual_search_bad_input_is_400(stack: Stack, body: dict, message: str) -> None:
    response = stack.transformers["visual-search"].predict(body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_huge_image_is_400_before_decoding(stack: Stack) -> None:
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, "PNG")  # small file, 9 M pixels
    body = {"instances": [{"image_b64": base64.b64encode(buffer.getvalue()).decode()}]}
    response = stack.transformers["visual-search"].predict(body)
    assert response.status_code == 400 and "pixels" in response.json()["error"]


def test_malformed_json_is_400(stack: Stack) -> None:
    search = stack.transformers["visual-search"]
    response = httpx.post(
        f"{search.url}/v1/models/visual-search:predict",
        content=b'{"instances": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


def test_qdrant_down_is_503(stack: Stack) -> None:
    response = stack.no_qdrant.predict({"instances": [{"pixels": [[0.0] * 28] * 28}]})
    assert response.status_code == 503, response.text
    assert "Qdrant" in response.json()["error"] or "qdrant" in response.json()["error"]


# --- moderation -------------------------------------------------------------------------


def test_moderation_v1_decides_from_stored_thresholds(stack: Stack) -> None:
    moderation = stack.transformers["moderation"]
    email = (
        "From: a@b.example\nSubject: =?utf-8?q?Cheap_pills?=\nContent-Type: text/html\n\n"
        "<p>Buy <b>now</b></p>"
    )
    response = moderation.predict({"instances": ["hello there", {"text": email}]})
    assert response.status_code == 200, response.text
    _assert_version_headers(response, moderation)
    thresholds = json.loads((moderation_dir(stack) / "thresholds.json").read_text())["spam"]
    for prediction in response.json()["predictions"]:
        score = prediction["scores"]["spam"]
        expected = (
            "block"
            if score >= thresholds["block"]
            else "review"
            if score >= thresholds["review"]
            else "allow"
        )
        assert prediction["decision"] == expected
        assert "spam score" in prediction["reason"]


def moderation_dir(stack: Stack) -> Path:
    command = stack.transformers["moderation"].process.args
    return Path(command[command.index("--artifact_dir") + 1])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [""]}, "empty"),
        ({"instances": ["   "]}, "empty"),
        ({"instances": []}, "empty"),
        ({"instances": [42]}, "string"),
        ({"instances": [{"txt": "x"}]}, "unknown fields"),
        ({"instances": ["x" * 300_000]}, "bytes"),
        ({"instances": "hello"}, "list"),
    ],
)
def test_moderation_bad_input_is_400(stack: Stack, body: dict, message: str) -> None:
    response = stack.transformers["moderation"].predict(body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_moderation_rejects_lone_surrogates(stack: Stack) -> None:
    moderation = stack.transformers["moderation"]
    response = httpx.post(
        f"{moderation.url}/v1/models/moderation:predict",
        content=b'{"instances": ["bad \\ud800 text"]}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ({"name": "texts", "datatype": "BYTES", "shape": [1], "data": ["x"]}, "unknown inputs"),
        ({"name": "text", "datatype": "FP32", "shape": [1], "data": [1.0]}, "datatype"),
        ({"name": "text", "datatype": "BYTES", "shape": [2], "data": ["x"]}, "shape"),
    ],
)
def test_moderation_v2_bad_tensor_is_400(stack: Stack, tensor: dict, message: str) -> None:
    response = stack.transformers["moderation"].infer({"inputs": [tensor]})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


# --- ranking ----------------------------------------------------------------------------


def test_ranking_known_user_gets_unseen_diverse_items(stack: Stack) -> None:
    preprocessing = json.loads((stack.ranking_dir / "preprocessing.json").read_text())
    seen = {int(item) for item in preprocessing["seen"]["42"].split()}
    ranking = stack.transformers["ranking"]
    response = ranking.predict({"user_id": 42, "n": 10, "context": {"timestamp": 893286638}})
    assert response.status_code == 200, response.text
    _assert_version_headers(response, ranking)
    prediction = response.json()["predictions"][0]
    assert prediction["cold_start"] is False
    items = prediction["items"]
    assert 0 < len(items) <= 10
    assert len({item["item_id"] for item in items}) == len(items) and not seen & {i["item_id"] for i in items}
    titles = preprocessing["items"]["title"]
    assert all(item["title"] == titles[str(item["item_id"])] for item in items)
    assert all(isinstance(item["genres"], list) for item in items)
    primary = [item["genres"][0] for item in items if item["genres"]]
    assert max(primary.count(genre) for genre in set(primary)) <= 3 or len(items) < 10


def test_ranking_unknown_user_is_cold_start(stack: Stack) -> None:
    response = stack.transformers["ranking"].predict({"instances": [{"user_id": 987_654, "n": 5}]})
    assert response.status_code == 200, response.text
    prediction = response.json()["predictions"][0]
    assert prediction["cold_start"] is True and len(prediction["items"]) == 5


def test_ranking_scores_given_candidates_only(stack: Stack) -> None:
    candidates = [1, 2, 3, 50, 100]
    response = stack.transformers["ranking"].predict({"user_id": 5, "candidates": candidates, "n": 3})
    assert response.status_code == 200, response.text
    items = response.json()["predictions"][0]["items"]
    assert len(items) == 3 and {item["item_id"] for item in items} <= set(candidates)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user_id": "42"}, "user_id"),
        ({"user_id": 1, "n": 0}, '"n"'),
        ({"user_id": 1, "n": 51}, '"n"'),
        ({"user_id": 1, "candidates": [99_999]}, "catalogue"),
        ({"user_id": 1, "context": {"timestamp": 1_700_000_000_000}}, "timestamp"),
        ({"user": 1}, "unknown fields"),
    ],
)
def test_ranking_bad_input_is_400(stack: Stack, body: dict, message: str) -> None:
    response = stack.transformers["ranking"].predict(body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


# --- protocol conformance with clients that are not ours ---------------------------------


def test_tritonclient_http_speaks_to_the_transformer(stack: Stack) -> None:
    moderation = stack.transformers["moderation"]
    client = httpclient.InferenceServerClient(moderation.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("moderation")
        assert client.get_server_metadata()["name"]
        metadata = client.get_model_metadata("moderation")
        assert [tensor["name"] for tensor in metadata["inputs"]] == ["text"]
        text = httpclient.InferInput("text", [2], "BYTES")
        text.set_data_from_numpy(np.array([b"win money now", b"lunch?"], dtype=np.object_), binary_data=False)
        result = client.infer("moderation", [text], headers={"Content-Type": "application/json"})
        assert result.get_response()["model_version"] == str(moderation.version)
        assert result.as_numpy("scores").shape == (2, 1)
        assert set(result.as_numpy("decision").astype(str)) <= {"allow", "review", "block"}
        binary = httpclient.InferInput("text", [1], "BYTES")
        binary.set_data_from_numpy(np.array([b"binary tensors work too"], dtype=np.object_), binary_data=True)
        assert client.infer("moderation", [binary]).as_numpy("decision").shape == (1,)
    finally:
        client.close()


def test_tritonclient_grpc_speaks_to_the_transformers(stack: Stack) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(GRPC_CLIENT),
            stack.transformers["moderation"].grpc_url,
            stack.transformers["ranking"].grpc_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    moderation = answer["moderation"]
    assert moderation["live"] and moderation["ready"] and moderation["model_ready"]
    assert moderation["metadata_inputs"] == ["text"]
    assert moderation["model_version"] == str(MODERATION_VERSION)
    assert len(moderation["decisions"]) == 2 and moderation["scores_shape"] == [2, 1]
    assert moderation["empty_status"] == "StatusCode.INVALID_ARGUMENT"
    ranking = answer["ranking"]
    assert ranking["cold_start"] == [False, True]
    assert [len(row) for row in ranking["item_ids"]] == [ranking["n"], ranking["n"]]


def test_metrics_count_requests_per_model_and_version(stack: Stack) -> None:
    moderation = stack.transformers["moderation"]
    assert moderation.predict({"instances": ["count me"]}).status_code == 200
    assert moderation.predict({"instances": [""]}).status_code == 400
    text = httpx.get(f"{moderation.url}/metrics", timeout=10).text
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def value(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    version = str(moderation.version)
    assert (
        value("modelyard_transformer_requests_total", model="moderation", version=version, status="ok") >= 1
    )
    assert value("modelyard_transformer_requests_total", model="moderation", status="client_error") >= 1
    assert value("modelyard_transformer_stage_seconds_count", version=version, stage="predict") >= 1
    assert value("modelyard_transformer_batch_size_count", model="moderation") >= 1
    assert value("request_predict_seconds_count", model_name="moderation") >= 1  # kserve's own


def test_transformers_listen_on_loopback_only(stack: Stack) -> None:
    for transformer in stack.transformers.values():
        listening = [
            connection.laddr
            for connection in psutil.Process(transformer.process.pid).connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN
        ]
        assert len(listening) >= 2  # REST and gRPC
        assert all(address.ip in ("127.0.0.1", "::ffff:127.0.0.1") for address in listening), listening


# --- last: the predictor goes away --------------------------------------------------------


def test_triton_down_is_503_and_transformers_survive(stack: Stack) -> None:
    stack.triton.stop()
    moderation, ranking = stack.transformers["moderation"], stack.transformers["ranking"]
    down = moderation.predict({"instances": ["anyone there?"]})
    assert down.status_code == 503, down.text
    assert "Triton" in down.json()["error"]
    assert ranking.predict({"user_id": 1}).status_code == 503
    v2 = moderation.infer({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["x"]}]})
    assert v2.status_code == 503
    assert moderation.predict({"instances": [""]}).status_code == 400  # still validates
    assert httpx.get(f"{moderation.url}/v2/health/live", timeout=5).status_code == 200
    assert all(t.process.poll() is None for t in stack.transformers.values())
