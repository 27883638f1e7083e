"""Candidate InferenceServices built from the chart's real objects, checked against KServe's CRD."""

from __future__ import annotations

import copy
import shlex

import pytest

from modelyard.registry.publish import storage_uri
from rollout import kserve

STORE = "s3://modelyard-models"


@pytest.mark.parametrize("isvcs", ["standard_isvcs", "knative_isvcs"])
@pytest.mark.parametrize("model", ["visual-search", "moderation", "ranking"])
def test_candidate_manifest_is_a_valid_pinned_copy(request, crds, isvcs, model) -> None:
    stable = request.getfixturevalue(isvcs)[model]
    candidate = kserve.candidate_isvc(stable, 7, storage_uri(STORE, model, 7))
    assert list(crds.errors(candidate)) == []
    metadata = candidate["metadata"]
    assert metadata["name"] == f"{model}-v7"
    assert (
        metadata["labels"][kserve.CANDIDATE_OF] == model and metadata["labels"][kserve.VERSION_LABEL] == "7"
    )
    assert metadata["annotations"] == stable["metadata"]["annotations"]  # same deployment mode
    assert candidate["spec"]["predictor"]["model"]["storageUri"] == f"{STORE}/{model}/7"
    args = candidate["spec"]["transformer"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--version=")] == ["--version=7"]
    assert f"--model_name={model}" in args  # the v2 route stays /v2/models/<model>/infer
    # Pods keep the stable pods' labels (network policies select by them).
    assert candidate["spec"]["predictor"]["labels"] == stable["spec"]["predictor"]["labels"]
    assert candidate["spec"]["transformer"]["labels"] == stable["spec"]["transformer"]["labels"]
    assert (
        stable["spec"]["predictor"]["model"]["storageUri"]
        != candidate["spec"]["predictor"]["model"]["storageUri"]
    )


def test_server_fields_and_kserve_canary_fields_are_dropped(standard_isvcs, crds) -> None:
    live = copy.deepcopy(standard_isvcs["ranking"])
    live["metadata"] |= {
        "resourceVersion": "42",
        "uid": "u",
        "generation": 3,
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "managedFields": [{}],
    }
    live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    live["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    live["spec"]["predictor"]["canaryTrafficPercent"] = 10
    live["spec"]["canary"] = [{"trafficPercent": 10, "predictor": {"name": "v9"}}]
    candidate = kserve.candidate_isvc(live, 2, "s3://b/ranking/2")
    assert "status" not in candidate and "canary" not in candidate["spec"]
    assert "canaryTrafficPercent" not in candidate["spec"]["predictor"]
    assert set(candidate["metadata"]) == {"name", "labels", "annotations"}
    assert "kubectl.kubernetes.io/last-applied-configuration" not in candidate["metadata"]["annotations"]
    assert list(crds.errors(candidate)) == []
    assert live["spec"]["predictor"]["model"]["storageUri"].endswith("/1")  # input untouched


def test_ready_means_the_ready_condition_of_the_current_generation() -> None:
    isvc = {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": []}}
    assert not kserve.is_ready(isvc)
    isvc["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert kserve.is_ready(isvc)
    isvc["metadata"]["generation"] = 3  # the controller has not seen the latest spec yet
    assert not kserve.is_ready(isvc)
    assert not kserve.is_ready(
        {"metadata": {}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )


def test_names_match_kserve_and_the_chart(standard_isvcs) -> None:
    assert kserve.candidate_name("ranking", 12) == "ranking-v12"
    assert kserve.transformer_url("ranking-v12", "prod") == "http://ranking-v12-transformer.prod.svc"
    assert kserve.served_version(standard_isvcs["ranking"]) == "1"


def test_commands_quote_what_the_shell_would_split() -> None:
    words = shlex.split(kserve.patch_configmap_command("prod ns", "x-rollouts", {"data": {"k": "it's"}}))
    assert words[:4] == ["kubectl", "-n", "prod ns", "patch"] and words[-1] == '{"data":{"k":"it\'s"}}'
    assert shlex.split(kserve.delete_command("ns", "m-v2")) == [
        "kubectl", "-n", "ns", "delete", "isvc", "m-v2", "--ignore-not-found"
    ]  # fmt: skip
