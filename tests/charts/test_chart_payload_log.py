"""The payload and feedback logs in the chart: every transformer pod and the gateway get a writable
log folder (their root filesystems are read-only) and the settings that point there."""

from __future__ import annotations

import json

import pytest

from deploy.rehearsal.manifests import parse_rendered
from tests.charts.conftest import NAMESPACE, RELEASE, VALUE_SETS, all_pods

MOUNT = "/var/lib/modelyard/logs"


def _log_pods(docs: list[dict]) -> list:
    return [
        p
        for p in all_pods(docs)
        if p.where.endswith(".transformer")
        or p.where.startswith("Deployment/")
        and p.where.endswith("-gateway")
    ]


def _env(container: dict) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("value_set", ["default", "kind", "knative"])
def test_transformers_and_gateway_write_logs_to_their_own_volume(render, value_set):
    pods = _log_pods(render(value_set).docs)
    assert any(p.where.endswith(".transformer") for p in pods) or value_set == "default"
    assert any(p.where.endswith("-gateway") for p in pods)
    for pod in pods:
        (container,) = pod.containers
        assert {"name": "payload-log", "mountPath": MOUNT} in container["volumeMounts"], pod.where
        env = _env(container)
        assert env["MODELYARD_PAYLOAD_DIR"] == f"{MOUNT}/payloads"
        assert env["MODELYARD_FEEDBACK_DIR"] == f"{MOUNT}/feedback"
        assert env["MODELYARD_PAYLOAD_SAMPLE_RATE"] == "1"
        (volume,) = [v for v in pod.spec["volumes"] if v["name"] == "payload-log"]
        assert volume == {"name": "payload-log", "emptyDir": {"sizeLimit": "2Gi"}}, pod.where


def test_a_shared_claim_sampling_and_a_model_switched_off(template):
    proc = template(
        *VALUE_SETS["kind"],
        "--set",
        "payloadLog.existingClaim=logs,payloadLog.disabledModels={moderation}",
        "--set-json",
        "payloadLog.sampleRate=0.25",
    )
    assert proc.returncode == 0, proc.stderr
    pods = _log_pods(parse_rendered(proc.stdout, RELEASE, NAMESPACE).docs)
    assert pods
    for pod in pods:
        (volume,) = [v for v in pod.spec["volumes"] if v["name"] == "payload-log"]
        assert volume["persistentVolumeClaim"] == {"claimName": "logs"}
        env = _env(pod.containers[0])
        assert env["MODELYARD_PAYLOAD_SAMPLE_RATE"] == "0.25"
        assert json.loads(env["MODELYARD_PAYLOAD_LOG_DISABLED"] or "") == ["moderation"]


@pytest.mark.parametrize(
    "setting", ["payloadLog.sampleRate=1.5", "payloadLog.disabledModels={chat}", "payloadLog.sizeLimit=2GB"]
)
def test_bad_payload_log_values_fail_the_render(template, setting):
    assert template("--set", setting).returncode != 0
