"""What the offline rehearsal found running the rendered pods, kept as rendered-manifest checks."""

from __future__ import annotations

import pytest

from tests.charts.conftest import VALUE_SETS, all_pods


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_no_pod_gets_service_links(render, value_set):
    """Service links would set MODELYARD_GATEWAY_PORT=tcp://IP:8080 (the release's gateway Service)
    in every container, and our settings read that variable as a port number."""
    for pod in all_pods(render(value_set).docs):
        if pod.labels is None:  # the ServingRuntime's container runs in the InferenceService's pods
            continue
        assert pod.spec.get("enableServiceLinks") is False, pod.where


@pytest.mark.parametrize("value_set", ["default", "kind", "knative"])
def test_transformers_bind_all_interfaces_of_their_pod(render, value_set):
    for isvc in render(value_set).of_kind("InferenceService"):
        env = {e["name"]: e.get("value") for e in isvc["spec"]["transformer"]["containers"][0]["env"]}
        assert env["MODELYARD_HOST"] == "0.0.0.0", isvc["metadata"]["name"]


def mlflow_container(rendered):
    (deployment,) = [d for d in rendered.of_kind("Deployment") if d["metadata"]["name"].endswith("-mlflow")]
    return deployment["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(("value_set", "workers"), [("default", "1"), ("kind", "1"), ("external", "2")])
def test_mlflow_workers_and_no_job_runner(render, value_set, workers):
    """sqlite (default, kind): one worker; postgres (external): two, with a minute to start each."""
    container = mlflow_container(render(value_set))
    assert f"--workers={workers}" in container["args"]
    assert ("--uvicorn-opts=--timeout-worker-healthcheck 60" in container["args"]) == (workers != "1")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
