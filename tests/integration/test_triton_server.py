"""The real ``tritonserver`` (nvidia-pytriton wheel) serving TorchScript models we export.

gRPC checks run in a child process (see ``triton_grpc_client.py``): ``tritonclient.grpc``
cannot share a process with kserve, which other test modules import.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from modelyard.artifact.model_repository import write_model_repository
from modelyard.artifact.triton_config import TensorSpec
from modelyard.errors import DataError, NotFoundError
from modelyard.net import free_ports
from modelyard.settings import Settings
from serving.triton.server import TritonServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRPC_CLIENT = Path(__file__).with_name("triton_grpc_client.py")
LATENCY_REQUESTS = 200


class Affine(torch.nn.Module):
    """y = factor * x plus a second output, so multi-output routing is visible."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.factor * x, x.sum(dim=1, keepdim=True)


class Scale(torch.nn.Module):
    """Two inputs of different dtypes, a variable dim, and a dict output."""

    def forward(self, x: torch.Tensor, factor: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"scaled": x * factor.to(x.dtype)}


class Guarded(torch.nn.Module):
    """Refuses negative inputs with its own message (the model-side error path)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x < 0).any()):
            raise ValueError("inputs must be non-negative")
        return x + 1


AFFINE_IO = (
    [TensorSpec("x", "float32", (4,))],
    [TensorSpec("y", "float32", (4,)), TensorSpec("total", "float32", (1,))],
)
SCALE_IO = (
    [TensorSpec("x", "float32", (-1,)), TensorSpec("factor", "int64", (1,))],
    [TensorSpec("scaled", "float32", (-1,))],
)


def write_affine(root: Path, name: str, factor: float, version: int = 1, queue_delay_us: int = 500) -> None:
    module = torch.jit.script(Affine(factor))
    write_model_repository(root, name, module, *AFFINE_IO, version=version, max_queue_delay_us=queue_delay_us)


def start_server(root: Path, state: Path, **options) -> TritonServer:
    http, grpc, metrics = free_ports(3)
    server = TritonServer(
        root,
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        settings=Settings(state_dir=state, device="cpu"),
        **options,
    )
    return server.start().wait_ready(timeout=180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("triton-repo")
    write_affine(root, "affine", 2.0)
    write_model_repository(root, "scale", torch.jit.script(Scale()), *SCALE_IO)
    # A queue delay long enough that concurrent requests from one client process meet.
    write_affine(root, "batched", 2.0, queue_delay_us=20_000)
    write_model_repository(
        root, "guarded", torch.jit.script(Guarded()), AFFINE_IO[0], [TensorSpec("y", "float32", (4,))]
    )
    write_affine(root, "versioned", 2.0)  # loaded later, by the explicit load test
    running = start_server(
        root, tmp_path_factory.mktemp("state"), load_models=["affine", "scale", "batched", "guarded"]
    )
    yield running
    running.stop()


@pytest.fixture
def client(server: TritonServer) -> Iterator[httpclient.InferenceServerClient]:
    # Closed after each test: an open keep-alive connection makes Triton's shutdown wait.
    http = httpclient.InferenceServerClient(server.url.removeprefix("http://"), concurrency=8)
    yield http
    http.close()


def http_input(name: str, array: np.ndarray, datatype: str) -> httpclient.InferInput:
    tensor = httpclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def infer_affine(client: httpclient.InferenceServerClient, x: np.ndarray, model: str = "affine"):
    return client.infer(model, [http_input("x", x, "FP32")])


def metric(server: TritonServer, family: str, model: str) -> float:
    with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    for metric_family in text_string_to_metric_families(text):
        for sample in metric_family.samples:
            if sample.name == family and sample.labels.get("model") == model:
                return sample.value
    raise AssertionError(f"{family} for {model} not in metrics")


def run_grpc_client(server: TritonServer, model: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(GRPC_CLIENT), server.grpc_url, model, str(LATENCY_REQUESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_http_infer_returns_every_output(client: httpclient.InferenceServerClient) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)

    result = infer_affine(client, x)

    np.testing.assert_array_equal(result.as_numpy("y"), 2 * x)
    np.testing.assert_array_equal(result.as_numpy("total"), x.sum(axis=1, keepdims=True))


def test_grpc_infer_metadata_and_bad_shape(server: TritonServer) -> None:
    answer = run_grpc_client(server, "affine")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)

    assert answer["y"] == (2 * x).tolist()
    assert answer["total"] == x.sum(axis=1, keepdims=True).tolist()
    assert answer["inputs"] == ["x"]
    assert answer["bad_shape_status"] == "StatusCode.INVALID_ARGUMENT"


def test_metadata_and_config_are_what_we_wrote(client: httpclient.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("affine")
    config = client.get_model_config("affine")

    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert [(o["name"], o["datatype"], o["shape"]) for o in metadata["outputs"]] == [
        ("y", "FP32", [-1, 4]),
        ("total", "FP32", [-1, 1]),
    ]
    assert config["backend"] == "python"
    assert config["max_batch_size"] == 64
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 500
    assert [(g["kind"], g["count"]) for g in config["instance_group"]] == [("KIND_CPU", 1)]


def test_two_inputs_of_different_dtypes_and_ragged_lengths(client: httpclient.InferenceServerClient) -> None:
    """Concurrent requests with different variable dims cannot be concatenated: each still gets its answer."""

    lengths = [1, 2, 3, 5, 8, 13, 2, 3] * 4
    pending = []
    for length in lengths:
        x = np.arange(length, dtype=np.float32)[None, :]
        factor = np.array([[length]], dtype=np.int64)
        pending.append(
            client.async_infer("scale", [http_input("x", x, "FP32"), http_input("factor", factor, "INT64")])
        )

    for length, job in zip(lengths, pending, strict=True):
        np.testing.assert_array_equal(
            job.get_result().as_numpy("scaled"), np.arange(length)[None, :] * length
        )


def test_dynamic_batching_merges_concurrent_requests(
    server: TritonServer, client: httpclient.InferenceServerClient
) -> None:
    requests = 200
    executions_before = metric(server, "nv_inference_exec_count_total", "batched")
    successes_before = metric(server, "nv_inference_request_success_total", "batched")
    rows = [np.full((1, 4), i, dtype=np.float32) for i in range(requests)]

    pending = [client.async_infer("batched", [http_input("x", row, "FP32")]) for row in rows]
    results = [job.get_result() for job in pending]

    for row, result in zip(rows, results, strict=True):
        np.testing.assert_array_equal(result.as_numpy("y"), 2 * row)
    executions = metric(server, "nv_inference_exec_count_total", "batched") - executions_before
    successes = metric(server, "nv_inference_request_success_total", "batched") - successes_before
    print(f"\ndynamic batching: {requests} concurrent requests -> {executions:.0f} model executions")
    assert successes == requests
    assert executions < requests


@pytest.mark.parametrize(
    ("name", "array"),
    [("x", np.ones((1, 5), dtype=np.float32)), ("not_an_input", np.ones((1, 4), dtype=np.float32))],
)
def test_bad_input_is_a_client_error_and_the_server_stays_up(
    server: TritonServer, client: httpclient.InferenceServerClient, name: str, array: np.ndarray
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.infer("affine", [http_input(name, array, "FP32")])

    assert caught.value.status() == "400"
    assert server.is_running() and server.is_model_ready("affine")
    np.testing.assert_array_equal(infer_affine(client, np.ones((1, 4), np.float32)).as_numpy("y"), 2)


def test_model_error_reaches_only_the_bad_request(client: httpclient.InferenceServerClient) -> None:
    rows = [np.full((1, 4), value, dtype=np.float32) for value in (1, -1, 2, 3)]

    pending = [client.async_infer("guarded", [http_input("x", row, "FP32")]) for row in rows]

    for row, job in zip(rows, pending, strict=True):
        if row.min() < 0:
            with pytest.raises(InferenceServerException, match="non-negative") as caught:
                job.get_result()
            assert caught.value.status() == "400"
        else:
            np.testing.assert_array_equal(job.get_result().as_numpy("y"), row + 1)


def test_explicit_load_of_a_second_version_then_unload(
    server: TritonServer, client: httpclient.InferenceServerClient
) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    assert not server.is_model_ready("versioned")

    server.load_model("versioned")
    assert server.is_model_ready("versioned", 1)
    np.testing.assert_array_equal(infer_affine(client, x, "versioned").as_numpy("y"), 2 * x)

    write_affine(server.model_repository, "versioned", 3.0, version=2)
    server.load_model("versioned")
    assert server.is_model_ready("versioned", 2)
    assert not server.is_model_ready("versioned", 1)  # default policy: newest version only
    np.testing.assert_array_equal(infer_affine(client, x, "versioned").as_numpy("y"), 3 * x)

    server.unload_model("versioned")
    assert not server.is_model_ready("versioned")
    assert server.is_model_ready("affine")


def test_loading_a_missing_or_broken_model_names_the_cause(server: TritonServer) -> None:
    with pytest.raises(NotFoundError):
        server.load_model("nothing-here")

    write_affine(server.model_repository, "broken", 1.0)
    (server.model_repository / "broken" / "1" / "model.pt").write_bytes(b"not torchscript")
    with pytest.raises(DataError, match="broken"):
        server.load_model("broken")
    assert server.is_running() and server.is_model_ready("affine")


def test_sequential_latency_over_http_and_grpc(
    server: TritonServer, client: httpclient.InferenceServerClient
) -> None:
    """Measured, printed, never asserted: numbers depend on the machine."""
    x = np.ones((1, 4), dtype=np.float32)
    infer_affine(client, x)
    timings = []
    for _ in range(LATENCY_REQUESTS):
        start = time.perf_counter()
        infer_affine(client, x)
        timings.append((time.perf_counter() - start) * 1000)
    grpc = run_grpc_client(server, "affine")["latency_ms"]
    http = {
        "mean": statistics.fmean(timings),
        "p50": statistics.median(timings),
        "p95": statistics.quantiles(timings, n=20)[-1],
    }
    for protocol, numbers in (("http", http), ("grpc", grpc)):
        print(
            f"\n{protocol} sequential x{LATENCY_REQUESTS}: "
            + " ".join(f"{k}={v:.2f}ms" for k, v in numbers.items())
        )


def test_failed_startup_reports_the_model_error_and_leaves_no_process(tmp_path: Path) -> None:
    write_affine(tmp_path / "repo", "broken", 1.0)
    (tmp_path / "repo" / "broken" / "1" / "model.pt").write_bytes(b"not torchscript")

    with pytest.raises(DataError, match="broken") as caught:
        start_server(tmp_path / "repo", tmp_path / "state", model_control="none")
    assert "log" in (caught.value.hint or "")


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    write_affine(tmp_path / "repo", "affine", 2.0)
    server = start_server(tmp_path / "repo", tmp_path / "state", model_control="none")
    pid = server.pid
    assert pid is not None and server.is_model_ready("affine")
    assert process_group(pid), "the python-backend stub runs in the server's process group"

    server.stop()

    assert not server.is_running()
    assert process_group(pid) == []


def process_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z" and int(entry.name) != os.getpid():
            members.append(int(entry.name))
    return members


def test_model_config_name_loads_the_named_config_variant(tmp_path: Path) -> None:
    """What the chart's gpu.enabled relies on: `--model-config-name=gpu` makes Triton load
    `<model>/configs/gpu.pbtxt` instead of config.pbtxt. This machine has no GPU, so the variant here
    keeps KIND_CPU and differs in its batch size, which the loaded config then shows."""
    from modelyard.artifact.triton_config import write_config_variant
    from serving.triton.installation import find_installation, prepare_backend_directory, server_environment
    from serving.triton.server import build_command

    write_affine(tmp_path / "repo", "affine", 2.0)
    variant = write_config_variant(tmp_path / "repo" / "affine", "gpu", "KIND_CPU")
    variant.write_text(variant.read_text().replace("max_batch_size: 64", "max_batch_size: 7"))
    installation = find_installation()
    http, grpc, metrics = free_ports(3)
    command = build_command(
        installation.binary,
        tmp_path / "repo",
        prepare_backend_directory(installation, tmp_path / "backends"),
        host="127.0.0.1",
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        model_control="none",
        load_models=None,
        restricted_key="variant-test-key",
    )
    with (tmp_path / "triton.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--model-config-name=gpu"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_environment(installation, dict(os.environ)),
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        with urllib.request.urlopen(f"{url}/v2/models/affine/config", timeout=5) as response:
            config = json.load(response)
        assert config["max_batch_size"] == 7, (tmp_path / "triton.log").read_text()[-2000:]
    finally:
        os.killpg(process.pid, 9)
        process.wait()
