"""PromQL checks for the chart's dashboard and alert rules: does an expression parse, and does every
metric it reads exist?

"Exists" means: our gateway exports it (the families are read from the real metric registries of
serving/gateway, so a renamed metric fails here), or Triton or Qdrant documents it. The Triton names
are also checked against a real Triton's /metrics in tests/integration/test_chart_operators.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser
from prometheus_client import CollectorRegistry

from serving.gateway.metrics import GatewayMetrics
from serving.gateway.rollout.metrics import RolloutMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "charts" / "modelyard" / "dashboards" / "modelyard.json"

# Triton Inference Server's per-model inference metrics (docs/user_guide/metrics.md; labels model, version)
# and its CPU metrics, as tritonserver 2.51 exports them on its metrics port.
TRITON_METRICS = frozenset(
    {
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_inference_count",
        "nv_inference_exec_count",
        "nv_inference_pending_request_count",
        "nv_inference_request_duration_us",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_input_duration_us",
        "nv_inference_compute_infer_duration_us",
        "nv_inference_compute_output_duration_us",
        "nv_cpu_utilization",
        "nv_cpu_memory_total_bytes",
        "nv_cpu_memory_used_bytes",
    }
)
# Qdrant's /metrics (documentation, "Monitoring & Telemetry"): per-endpoint REST and gRPC responses,
# with duration histograms (label endpoint).
_QDRANT_API = ("rest_responses", "grpc_responses")
QDRANT_METRICS = frozenset(
    {"app_info", "collections_total", "collections_vector_total"}
    | {f"{api}_{suffix}" for api in _QDRANT_API for suffix in ("total", "fail_total", "avg_duration_seconds")}
    | {f"{api}_duration_seconds_{part}" for api in _QDRANT_API for part in ("bucket", "sum", "count")}
)
# Series Prometheus adds to every target itself.
PROMETHEUS_METRICS = frozenset({"up", "scrape_duration_seconds"})

# Grafana's interval variables are not PromQL; any duration stands in for them when parsing.
_GRAFANA_DURATIONS = re.compile(
    r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval)\}"
)


def our_metric_names() -> frozenset[str]:
    """Every series name the gateway's metrics export (counters as ``_total``, histograms' parts)."""
    registry = CollectorRegistry()
    RolloutMetrics(registry)
    families = [*GatewayMetrics().registry.collect(), *registry.collect()]
    names: set[str] = set()
    for family in families:
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{part}" for part in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return frozenset(names)


def known_metric_names() -> frozenset[str]:
    return our_metric_names() | TRITON_METRICS | QDRANT_METRICS | PROMETHEUS_METRICS


def parse(expr: str) -> promql_parser.Expr:
    """Parse a PromQL expression, Grafana's interval variables read as 1m; ValueError when invalid."""
    return promql_parser.parse(_GRAFANA_DURATIONS.sub("1m", expr))


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (by name or by a ``__name__`` matcher)."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")

    promql_parser.walk(parse(expr), visit)
    return names


def problems(exprs: dict[str, str]) -> list[str]:
    """One line per expression (keyed by where it is) that does not parse or reads an unknown metric."""
    known = known_metric_names()
    found = []
    for where, expr in exprs.items():
        try:
            unknown = metric_names(expr) - known
        except ValueError as error:
            found.append(f"{where}: does not parse: {error}")
            continue
        if unknown:
            found.append(f"{where}: unknown metrics {sorted(unknown)}")
    return found


def dashboard_exprs(dashboard: dict) -> dict[str, str]:
    """Every PromQL expression of a dashboard, keyed by panel and target (variables included)."""
    exprs = {
        f"panel {p['title']!r} target {t['refId']}": t["expr"]
        for p in dashboard["panels"]
        for t in p.get("targets", [])
    }
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":  # label_values(SELECTOR, label) is Grafana's; SELECTOR is PromQL
            selector = var["definition"].removeprefix("label_values(").rsplit(",", 1)[0]
            exprs[f"variable {var['name']}"] = selector
    return exprs


def load_dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())
