"""gRPC half of the Triton integration test, run in its own process.

``tritonclient.grpc`` and kserve register the same protobuf symbols, so one pytest process
cannot import both; the test runs this script and reads one JSON object from stdout.

Usage: python triton_grpc_client.py HOST:PORT MODEL LATENCY_REQUESTS
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def infer(client: grpcclient.InferenceServerClient, model: str, x: np.ndarray) -> grpcclient.InferResult:
    tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return client.infer(model, [tensor])


def main(url: str, model: str, latency_requests: int) -> dict:
    client = grpcclient.InferenceServerClient(url)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    result = infer(client, model, x)
    try:
        infer(client, model, np.ones((1, 5), dtype=np.float32))
        bad_shape_status = "accepted"
    except InferenceServerException as error:
        bad_shape_status = str(error.status())
    one = np.ones((1, 4), dtype=np.float32)
    infer(client, model, one)  # warm the channel before timing
    timings = []
    for _ in range(latency_requests):
        start = time.perf_counter()
        infer(client, model, one)
        timings.append((time.perf_counter() - start) * 1000)
    metadata = client.get_model_metadata(model, as_json=True)
    client.close()
    return {
        "y": result.as_numpy("y").tolist(),
        "total": result.as_numpy("total").tolist(),
        "bad_shape_status": bad_shape_status,
        "inputs": [entry["name"] for entry in metadata["inputs"]],
        "latency_ms": {
            "mean": statistics.fmean(timings),
            "p50": statistics.median(timings),
            "p95": statistics.quantiles(timings, n=20)[-1],
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
