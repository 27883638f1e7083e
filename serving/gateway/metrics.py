"""Prometheus metrics per model and version, on a registry owned by one app instance."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from modelyard.logs import event
from modelyard.monitor_results import drift_samples

log = logging.getLogger(__name__)

REQUESTS = "modelyard_gateway_requests_total"
ERRORS = "modelyard_gateway_errors_total"
LATENCY = "modelyard_gateway_request_duration_seconds"
DRIFT = "modelyard_drift"
DRIFT_STATISTIC = "modelyard_drift_statistic"
SERVER_ERRORS = ("upstream_error", "upstream_unavailable")
"""Error kinds that count against a variant (4xx are the caller's)."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Inference on CPU ranges from ~1 ms (ranking) to seconds (a cold image batch)."""


def family(name: str) -> str:
    """The name prometheus_client wants for a counter exported as ``name`` (it adds ``_total``)."""
    return name.removesuffix("_total")


class GatewayMetrics:
    """Request count, errors, latency and in-flight requests labelled by model and version.

    Only routed models become label values: unknown names from clients would explode the
    label set, so such requests are logged but not counted here.
    """

    def __init__(self, monitor_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DriftCollector(monitor_dir))
        self.requests = Counter(
            family(REQUESTS),
            "Requests answered, by model, version and HTTP status.",
            ["model", "version", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            family(ERRORS),
            "Requests that failed: client_error (4xx), upstream_error (upstream 5xx), "
            "upstream_unavailable (unreachable or timed out).",
            ["model", "version", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            LATENCY,
            "Time from request received to response sent by the gateway.",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "modelyard_gateway_in_flight_requests",
            "Requests being handled right now.",
            ["model", "version"],
            registry=self.registry,
        )

        self.feedback_rows = Counter(
            "modelyard_gateway_feedback_rows",
            "Feedback rows by outcome: written, dropped (queue full: answered 503), failed (the "
            "writer could not write them).",
            ["model", "outcome"],
            registry=self.registry,
        )

    def count_feedback_rows(self, outcome: str, model: str, rows: int) -> None:
        """The feedback writer's count hook (from its own thread; its partitions are the models)."""
        self.feedback_rows.labels(model, outcome).inc(rows)

    def observe(self, model: str, version: str, status: int, seconds: float, error_kind: str | None) -> None:
        """Record one finished request."""
        self.requests.labels(model, version, str(status)).inc()
        self.latency.labels(model, version).observe(seconds)
        if error_kind:
            self.errors.labels(model, version, error_kind).inc()

    @contextmanager
    def tracking_in_flight(self, model: str, version: str) -> Iterator[None]:
        gauge = self.in_flight.labels(model, version)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class DriftCollector(Collector):
    """The latest ``yard monitor`` result of each model, read from ``monitor_dir`` at scrape time
    (the monitor runs elsewhere, e.g. a CronJob; the file is its hand-off). None: the families
    exist without samples."""

    def __init__(self, monitor_dir: Path | None) -> None:
        self.monitor_dir = monitor_dir

    def collect(self) -> Iterator[GaugeMetricFamily]:
        drift = GaugeMetricFamily(
            DRIFT,
            "1 when the latest monitored window drifted on this signal (signal overall: any, "
            "after Holm's correction), else 0.",
            labels=["model", "signal"],
        )
        statistic = GaugeMetricFamily(
            DRIFT_STATISTIC,
            "The latest window's test statistic per signal (KS D, chi-squared, MMD squared); "
            "signal overall: the window's request count.",
            labels=["model", "signal"],
        )
        for sample in drift_samples(self.monitor_dir) if self.monitor_dir is not None else ():
            drift.add_metric([sample.model, sample.signal], sample.drift)
            statistic.add_metric([sample.model, sample.signal], sample.statistic)
        yield drift
        yield statistic


@contextmanager
def serving_metrics_port(metrics: GatewayMetrics, host: str, port: int | None) -> Iterator[None]:
    """While inside, serve ``metrics`` on ``host:port`` without a key (``port`` None: do nothing).

    The Prometheus habit: a scrape port of its own, which network policy (not a key) guards, so
    Prometheus and the Kubernetes API server's pod proxy (``yard rollout --target k8s``) can read it.
    It is prometheus_client's own threaded server: it answers every path with the exposition.
    """
    if port is None:
        yield
        return
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    event(log, "metrics_port_open", host=host, port=server.server_port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
