"""``yard monitor --submit-rayjob``'s API calls, against FakeRayJobApiServer (fake_rayjob_api.py):
no Kubernetes API server can run on this machine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import certifi
import pytest
from typer.testing import CliRunner

from loop.rayjob import (
    MAX_NAME,
    RETRAIN_OF,
    InClusterRayJobs,
    read_manifest,
    retrain_rayjob,
    submit_retrain,
)
from modelyard.errors import UnavailableError, UsageError
from tests.unit.loop.fake_rayjob_api import NAMESPACE, PREFIX, TOKEN, FakeRayJobApiServer
from yard.main import app

NOW = datetime(2026, 12, 3, 12, 30, 5, tzinfo=UTC)
SINCE, UNTIL = "2026-12-03T11:30:05+00:00", "2026-12-03T12:30:05+00:00"
MANIFEST: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayJob",
    "metadata": {
        "name": "modelyard-retrain-moderation",
        "labels": {"app.kubernetes.io/component": "training", RETRAIN_OF: "moderation"},
    },
    "spec": {
        "entrypoint": "yard retrain moderation --no-rollout",
        "rayClusterSpec": {"rayVersion": "2.60.0"},
    },
}


def _job(name: str, state: str | None, created: str, model: str = "moderation") -> dict[str, Any]:
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "labels": {RETRAIN_OF: model}, "creationTimestamp": created},
        "spec": {},
    }
    if state is not None:
        job["status"] = {"jobDeploymentStatus": state}
    return job


def test_drift_creates_the_rayjob_on_a_fake_api_server() -> None:
    """FakeRayJobApiServer (no API server runs here): the one POST holds the chart's RayJob,
    renamed for this check, labelled with the model and limited to the drifted window."""
    server = FakeRayJobApiServer(_job("ranking-run", "Running", "2026-12-03T12:00:00Z", model="ranking"))
    done = submit_retrain(server.api(), MANIFEST, "moderation", SINCE, UNTIL, NOW)
    (posted,) = server.created
    assert done == {"rayjob": posted["metadata"]["name"], "created": True, "reason": "drift", "deleted": []}
    assert posted["metadata"]["name"] == "modelyard-retrain-moderation-261203123005"
    assert posted["metadata"]["labels"][RETRAIN_OF] == "moderation"
    assert (
        posted["spec"]["entrypoint"]
        == f"yard retrain moderation --no-rollout --since {SINCE} --until {UNTIL}"
    )
    assert posted["spec"]["rayClusterSpec"] == MANIFEST["spec"]["rayClusterSpec"]
    assert (
        MANIFEST["spec"]["entrypoint"] == "yard retrain moderation --no-rollout"
    )  # the file's copy untouched
    assert server.calls == [("GET", PREFIX), ("POST", PREFIX)]


@pytest.mark.parametrize("state", [None, "Initializing", "Running", "Retrying", "Suspended"])
def test_a_rayjob_still_going_is_not_doubled_on_a_fake_api_server(state: str | None) -> None:
    """FakeRayJobApiServer (no API server runs here): a check while a retraining RayJob of the
    model is not Complete or Failed (or has no status yet) creates nothing and deletes nothing."""
    server = FakeRayJobApiServer(
        _job("modelyard-retrain-moderation-261203113005", state, "2026-12-03T11:30:05Z"),
        _job("modelyard-retrain-moderation-261203103005", "Complete", "2026-12-03T10:30:05Z"),
    )
    done = submit_retrain(server.api(), MANIFEST, "moderation", SINCE, UNTIL, NOW)
    assert done["created"] is False
    assert done["rayjob"] == "modelyard-retrain-moderation-261203113005"
    assert "not doubled" in done["reason"]
    assert server.calls == [("GET", PREFIX)]
    assert len(server.jobs) == 2


def test_finished_rayjobs_but_the_newest_are_deleted_first_on_a_fake_api_server() -> None:
    """FakeRayJobApiServer (no API server runs here): older finished runs are deleted, the newest
    stays for its logs, then the next one is created."""
    server = FakeRayJobApiServer(
        _job("run-c", "Failed", "2026-12-03T11:30:05Z"),
        _job("run-a", "Complete", "2026-12-03T09:30:05Z"),
        _job("run-b", "Complete", "2026-12-03T10:30:05Z"),
    )
    done = submit_retrain(server.api(), MANIFEST, "moderation", SINCE, UNTIL, NOW)
    assert done["created"] is True
    assert done["deleted"] == ["run-a", "run-b"]
    assert sorted(server.jobs) == sorted(["run-c", done["rayjob"]])
    assert [c for c in server.calls if c[0] == "DELETE"] == [
        ("DELETE", f"{PREFIX}/run-a"),
        ("DELETE", f"{PREFIX}/run-b"),
    ]


def test_a_name_taken_meanwhile_is_not_doubled_on_a_fake_api_server() -> None:
    """FakeRayJobApiServer (no API server runs here): two checks in the same second (a Job
    started by hand beside the schedule) create one RayJob; the second is told it exists."""
    server = FakeRayJobApiServer()
    first = submit_retrain(server.api(), MANIFEST, "moderation", SINCE, UNTIL, NOW)
    server.jobs[first["rayjob"]]["status"] = {"jobDeploymentStatus": "Complete"}  # listed as done
    second = submit_retrain(server.api(), MANIFEST, "moderation", SINCE, UNTIL, NOW)
    assert (first["created"], second["created"]) == (True, False)
    assert second["reason"].endswith("exists already")
    assert len(server.created) == 1


def test_the_api_servers_refusal_is_the_error_on_a_fake_api_server() -> None:
    """FakeRayJobApiServer (no API server runs here): a wrong token is an error carrying the
    server's own message, and nothing is created."""
    server = FakeRayJobApiServer()
    with pytest.raises(UnavailableError, match="answered 401: Unauthorized"):
        submit_retrain(server.api(token="expired"), MANIFEST, "moderation", SINCE, UNTIL, NOW)
    assert server.created == []


def test_a_long_release_name_is_cut_to_kuberays_limit() -> None:
    manifest = {**MANIFEST, "metadata": {"name": "a-very-long-release-name-modelyard-retrain-moderation"}}
    name = retrain_rayjob(manifest, "moderation", None, UNTIL, NOW)["metadata"]["name"]
    assert len(name) <= MAX_NAME
    assert name.endswith("-261203123005")
    assert "--" not in name


def test_without_since_only_until_is_passed() -> None:
    job = retrain_rayjob(MANIFEST, "moderation", None, UNTIL, NOW)
    assert job["spec"]["entrypoint"] == f"yard retrain moderation --no-rollout --until {UNTIL}"


def test_from_pod_uses_the_service_account_and_the_kubelets_variables(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "namespace").write_text(NAMESPACE)
    (tmp_path / "ca.crt").write_bytes(Path(certifi.where()).read_bytes())  # any CA bundle parses
    api = InClusterRayJobs.from_pod(
        tmp_path, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    )
    assert str(api.client.base_url) == "https://[fd00::1]:6443"
    assert api.client.headers["authorization"] == f"Bearer {TOKEN}"
    assert api.path == PREFIX


def test_from_pod_outside_a_pod_says_where_it_runs(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match="not inside a Kubernetes pod") as caught:
        InClusterRayJobs.from_pod(tmp_path, {})
    assert "--retrain" in (caught.value.hint or "")


def test_a_manifest_that_is_not_a_rayjob_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rayjob.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(UsageError, match="not a RayJob"):
        read_manifest(path)
    path.write_text(json.dumps(MANIFEST))
    assert read_manifest(path) == MANIFEST


def test_retrain_and_submit_rayjob_exclude_each_other(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["monitor", "moderation", "--retrain", "--submit-rayjob", str(tmp_path / "rayjob.yaml")]
    )
    assert isinstance(result.exception, UsageError)
    assert "exclude each other" in str(result.exception)
