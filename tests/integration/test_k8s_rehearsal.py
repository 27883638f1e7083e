"""The Kubernetes dress rehearsal (``make k8s-rehearsal``) on the chart as it is, then on broken copies.

Real processes in real network namespaces, real probes, real queries through the gateway Service.
Stand-ins, each said so in the table: moto's S3 server for MinIO, nothing behind Qdrant's address,
and the training RayJobs (the session's smoke-trained champions are copied into the chart's MLflow
and published to the store). The three ``trial`` tests start one changed copy of a rendered pod in
the running rehearsal and show the kubelet checks fail, naming the pod, the probe and what answered.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from deploy.rehearsal.manifests import REPO_ROOT, find_helm
from deploy.rehearsal.network import PodNetwork, sweep_stale
from deploy.rehearsal.podspec import PodPlan
from deploy.rehearsal.run import Options, Rehearsal

# Alone, the first test also smoke-trains the three models (the session fixture): more than 900 s.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]

LONG_RUNNING = (
    "modelyard-gateway",
    "modelyard-mlflow",
    *(
        f"{model}-{part}"
        for model in ("visual-search", "moderation", "ranking")
        for part in ("predictor", "transformer")
    ),
)


def _require_root_and_helm() -> None:
    if os.geteuid() != 0:
        pytest.skip(
            "the rehearsal needs root (network namespaces, veths, mounts): run `make test` as root (CI does)"
        )
    if find_helm() is None:
        pytest.skip("helm not found: run `make tools`")


@pytest.fixture(scope="module")
def rehearsal(smoke_trained: tuple) -> Iterator[tuple]:
    _require_root_and_helm()
    settings, untrained = smoke_trained
    if untrained:
        pytest.fail(f"the rehearsal serves all three models; training left some out: {untrained}")
    with Rehearsal(Options(source=settings.state_dir)) as running:
        report = running.run()
        print(report.render())
        yield running, report


def test_rendered_chart_comes_up_and_every_model_answers(rehearsal):
    running, report = rehearsal
    assert report.ok, report.render()
    checked = {row.check for row in report.rows if row.passed}
    for pod in LONG_RUNNING:
        assert f"pod {pod}" in checked, report.render()
    assert any(row.check.startswith("query ") for row in report.rows)
    assert report.render().splitlines()[-1] == f"{report.passed} passed, 0 failed"


def _loopback(plan: PodPlan) -> dict:
    """As on main before the fix: nothing set MODELYARD_HOST in the transformer, so it bound 127.0.0.1."""
    kept = [e for e in plan.env_entries if e["name"] != "MODELYARD_HOST"]
    return {"env_entries": [*kept, {"name": "MODELYARD_HOST", "value": "127.0.0.1"}]}


def _wrong_probe_port(plan: PodPlan) -> dict:
    return {"probes": [dataclasses.replace(probe, port=8081) for probe in plan.probes]}


def _no_tracking_uri(plan: PodPlan) -> dict:
    """Without MODELYARD_MLFLOW_TRACKING_URI the transformer looks in an empty local registry and exits."""
    return {"env_entries": [e for e in plan.env_entries if "TRACKING_URI" not in e["name"]]}


BROKEN = {
    "loopback-bound container": (
        "moderation-transformer",
        _loopback,
        [
            "startupProbe GET http://:8080/v2/health/live",
            "connection refused",
            "listens on 127.0.0.1:8080 only",
        ],
    ),
    "probe on a wrong port": (
        "modelyard-gateway",
        _wrong_probe_port,
        [
            "livenessProbe GET http://:8081/v2/health/live",
            "nothing listens on port 8081; the pod listens on 8080",
        ],
    ),
    "missing env var the process needs": (
        "moderation-transformer",
        _no_tracking_uri,
        ["the container exited with code", "before it was Ready", "no registered model"],
    ),
}


@pytest.fixture(scope="module")
def broken_pods(rehearsal: tuple) -> dict:
    """Each BROKEN change applied to a copy of its rendered pod, all started at once in the running
    rehearsal; {case: (pod name, status)}."""
    running, _ = rehearsal
    plans = {}
    for case, (pod, change, _) in BROKEN.items():
        plan = running.work.pod(pod)
        plans[case] = dataclasses.replace(plan, name=f"{pod}-{case.split()[0]}", **change(plan))
    statuses = running.trial(list(plans.values()))
    return {case: (plan.name, status) for (case, plan), status in zip(plans.items(), statuses, strict=True)}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_catches_a_broken_pod(broken_pods, broken):
    """A changed copy of a rendered pod fails, naming the pod, the probe (or the exit) and what answered."""
    name, status = broken_pods[broken]
    assert not status.ready and status.failure, status
    assert status.failure.startswith(f"{name}: "), status.failure
    for text in BROKEN[broken][2]:
        assert text in status.failure, status.failure


def test_stale_namespaces_of_a_killed_run_are_removed():
    _require_root_and_helm()
    dead = subprocess.Popen(["true"])
    dead.wait()
    network = PodNetwork()
    network.state.owner_pid = dead.pid  # a run whose process is gone (killed before its cleanup)
    network.up()
    network.add_pod("left-behind")
    netns = network.namespaces["left-behind"]
    assert netns in _namespaces()

    assert network.state.run_id in sweep_stale()
    assert netns not in _namespaces()
    assert network.state.bridge not in subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert not network.state.file.exists()


def test_ctrl_c_removes_everything_the_rehearsal_made(smoke_trained):
    _require_root_and_helm()
    settings, _ = smoke_trained
    before = _namespaces()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.rehearsal", "--source", str(settings.state_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    made, pods = set(), []
    while time.monotonic() < deadline and not pods:  # wait until a pod runs (S3, then MLflow)
        time.sleep(0.5)
        made = _namespaces() - before
        pods = [int(pid) for netns in made for pid in _pids(netns)]
    assert pods, "no pod process was running within 120 s"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert not (_namespaces() & made), output
    assert not [pid for pid in pods if _alive(pid)], output


def _pids(netns: str) -> list[str]:
    return subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}
