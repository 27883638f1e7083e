"""The chart's operator tooling against the real local stack (``served_stack``, shared with the other
stack tests, so this file adds seconds, not a stack start): the `helm test` script queries every model
through the real gateway, and the Triton metrics the dashboard plots are ones a real Triton exports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from serving.stack.client import read_api_key
from serving.stack.state import read_state
from tests.charts.promql_check import TRITON_METRICS, dashboard_exprs, load_dashboard, metric_names

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "charts" / "modelyard" / "files" / "gateway_smoke.py"
SCRIPT_TIMEOUT_S = 120


def run_script(gateway_url: str, key: str, models: list[str]) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(SCRIPT), "--gateway", gateway_url, "--timeout", "30"]
    args += [f"--model={model}" for model in models]
    env = {"MODELYARD_API_KEY": key, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=SCRIPT_TIMEOUT_S, check=False
    )


def series_names(exposition: str) -> set[str]:
    """Series names exactly as exposed. (prometheus_client's parser would rename Triton's counters,
    which have no ``_total`` suffix, to ``<name>_total``.)"""
    lines = exposition.splitlines()
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in lines if line and not line.startswith("#")}


@pytest.fixture(scope="module")
def served(served_stack) -> tuple:
    settings, _, untrained = served_stack
    state = read_state(settings)  # fresh: fault tests earlier in the session may have restarted children
    models = [model for model in state.models if model not in untrained]
    if not models:
        pytest.skip(f"no model is served: {untrained}")
    return settings, state, models


def test_the_helm_test_script_passes_against_the_real_gateway(served):
    settings, state, models = served
    done = run_script(state.gateway_url, read_api_key(settings), models)
    assert done.returncode == 0, done.stdout + done.stderr
    for model in models:
        version = state.models[model].version
        assert f"PASS {model}: version {version} answered" in done.stdout, done.stdout
    assert "PASS gateway ready" in done.stdout
    assert f"{len(models) + 2} of {len(models) + 2} checks passed" in done.stdout


def test_the_helm_test_script_fails_with_a_wrong_key(served):
    _, state, models = served
    done = run_script(state.gateway_url, "not-the-api-key", models)
    assert done.returncode == 1
    for model in models:
        assert f"FAIL {model}: HTTP 401" in done.stdout, done.stdout


def test_the_dashboards_triton_metrics_are_exported_by_the_real_triton(served):
    _, state, models = served
    triton = state.children["triton"]
    text = httpx.get(f"{triton.url.rsplit(':', 1)[0]}:{triton.ports['metrics']}/metrics", timeout=10).text
    exported = series_names(text)
    plotted = {
        n for e in dashboard_exprs(load_dashboard()).values() for n in metric_names(e) if n.startswith("nv_")
    }
    assert plotted and plotted <= TRITON_METRICS
    assert plotted <= exported, f"not exported by tritonserver: {sorted(plotted - exported)}"
