"""Our Prometheus series on the transformer's ``/metrics`` (kserve serves the default registry).

kserve already records ``request_{preprocess,predict,postprocess}_seconds`` labelled by
``model_name`` only; these add the version (two can serve side by side in a canary), the
protocol, the outcome and the batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

LABELS = ("model", "version")
PAYLOAD_OUTCOMES = ("written", "dropped", "failed")
REQUESTS = Counter(
    "modelyard_transformer_requests", "Inference requests answered", [*LABELS, "protocol", "status"]
)
ERRORS = Counter("modelyard_transformer_errors", "Failed inference requests by error kind", [*LABELS, "kind"])
LATENCY = Histogram(
    "modelyard_transformer_request_seconds",
    "End-to-end latency inside the transformer",
    LABELS,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STAGE_LATENCY = Histogram(
    "modelyard_transformer_stage_seconds",
    "Latency per stage: preprocess, predict (Triton + Qdrant), postprocess",
    [*LABELS, "stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_SIZE = Histogram(
    "modelyard_transformer_batch_size",
    "Items per request",
    LABELS,
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


@contextmanager
def stage(model: str, version: int, name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_LATENCY.labels(model, str(version), name).observe(time.perf_counter() - started)


def record_request(model: str, version: int, protocol: str, status: str, seconds: float) -> None:
    REQUESTS.labels(model, str(version), protocol, status).inc()
    LATENCY.labels(model, str(version)).observe(seconds)


def record_error(model: str, version: int, kind: str) -> None:
    ERRORS.labels(model, str(version), kind).inc()


def record_batch(model: str, version: int, size: int) -> None:
    BATCH_SIZE.labels(model, str(version)).observe(size)


PAYLOAD_ROWS = Counter(
    "modelyard_transformer_payload_rows",
    "Payload log rows by outcome: written, dropped (the writer's queue was full), failed (the "
    "writer could not write them, or a request's rows could not be built)",
    [*LABELS, "outcome"],
)


def payload_rows_counter(model: str, version: int) -> Callable[[str, str, int], None]:
    """The payload writer's count hook (one version: one partition), called from its own thread."""
    counters = {outcome: PAYLOAD_ROWS.labels(model, str(version), outcome) for outcome in PAYLOAD_OUTCOMES}
    return lambda outcome, _partition, rows: counters[outcome].inc(rows)
