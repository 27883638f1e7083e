"""InferenceService patches: applied to the chart's real objects, checked against KServe's CRD."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from modelyard.errors import UsageError
from modelyard.rollout import kserve

STORE = "s3://modelyard-models"


def apply(isvc: dict[str, Any], *patches: dict[str, Any]) -> dict[str, Any]:
    for patch in patches:
        isvc = kserve.merge_patch(isvc, patch)
    return isvc


def assert_valid(crds, isvc: dict[str, Any]) -> None:
    assert list(crds.errors(isvc)) == []


def test_standard_canary_lifecycle_stays_valid(standard_isvcs, crds) -> None:
    base = standard_isvcs["ranking"]
    assert kserve.deploy_mode(base) == "standard"
    uri = kserve.storage_uri(STORE, "ranking", 2)
    started = apply(base, kserve.start_patch(base, "standard", 2, uri, 0))
    assert_valid(crds, started)
    canary = started["spec"]["canary"][0]
    assert canary["predictor"]["name"] == "v2"
    assert canary["predictor"]["model"]["storageUri"] == "s3://modelyard-models/ranking/2"
    assert canary["predictor"]["model"]["name"] == "kserve-container"
    assert started["spec"]["predictor"] == base["spec"]["predictor"]  # stable untouched

    stepped = apply(started, kserve.percent_patch(started, "standard", 25))
    assert_valid(crds, stepped)
    assert stepped["spec"]["canary"][0]["trafficPercent"] == 25

    promoted = apply(stepped, kserve.promote_patch(stepped, "standard"))
    assert_valid(crds, promoted)
    assert "canary" not in promoted["spec"]
    assert promoted["spec"]["predictor"]["model"]["storageUri"] == uri

    rolled_back = apply(stepped, *kserve.rollback_patches(stepped, "standard", "p99 too high"))
    assert_valid(crds, rolled_back)
    assert "canary" not in rolled_back["spec"]
    assert rolled_back["metadata"]["annotations"][kserve.REASON] == "p99 too high"


def test_knative_canary_lifecycle_stays_valid(knative_isvcs, crds) -> None:
    base = knative_isvcs["moderation"]
    assert kserve.deploy_mode(base) == "knative"
    stable_uri = base["spec"]["predictor"]["model"]["storageUri"]
    uri = kserve.storage_uri(STORE, "moderation", 7)
    started = apply(base, kserve.start_patch(base, "knative", 7, uri, 10))
    assert_valid(crds, started)
    assert started["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert started["spec"]["predictor"]["model"]["storageUri"] == uri

    promoted = apply(started, kserve.promote_patch(started, "knative"))
    assert_valid(crds, promoted)
    assert "canaryTrafficPercent" not in promoted["spec"]["predictor"]

    first, second = kserve.rollback_patches(started, "knative", "errors")
    assert first == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}  # traffic moves first
    rolled_back = apply(started, first, second)
    assert_valid(crds, rolled_back)
    assert rolled_back["spec"]["predictor"]["model"]["storageUri"] == stable_uri
    assert "canaryTrafficPercent" not in rolled_back["spec"]["predictor"]


@pytest.mark.parametrize(
    "wrong",
    [
        {"spec": {"canary": [{"trafficPercent": 150, "predictor": {"name": "v2"}}]}},
        {"spec": {"canary": [{"trafficPercent": 10, "predictor": {"name": "V_2"}}]}},
        {"spec": {"canary": [{"predictor": {"name": "v2"}}]}},
        {"spec": {"canary": [{"trafficPercent": 10, "canaryTrafficPercent": 10, "predictor": {}}]}},
        {"spec": {"predictor": {"canaryTrafficPercent": "ten"}}},
    ],
    ids=["percent-over-100", "bad-name", "no-percent", "knative-field-in-canary", "percent-not-int"],
)
def test_a_deliberately_wrong_patch_is_rejected_by_the_crd(standard_isvcs, crds, wrong) -> None:
    assert list(crds.errors(apply(standard_isvcs["ranking"], wrong)))


def test_the_printed_kubectl_command_carries_the_same_patch(standard_isvcs) -> None:
    base = standard_isvcs["ranking"]
    patch = kserve.start_patch(base, "standard", 3, kserve.storage_uri(STORE, "ranking", 3), 5)
    words = shlex.split(kserve.kubectl_patch_command("ranking", "prod ns", patch))
    assert words[:6] == ["kubectl", "-n", "prod ns", "patch", "inferenceservice", "ranking"]
    assert words[6:8] == ["--type", "merge"]
    assert json.loads(words[words.index("-p") + 1]) == patch


def test_an_object_without_a_mode_annotation_needs_mode(standard_isvcs) -> None:
    bare = kserve.merge_patch(
        standard_isvcs["ranking"], {"metadata": {"annotations": {kserve.MODE_ANNOTATION: None}}}
    )
    with pytest.raises(UsageError, match="deploymentMode"):
        kserve.deploy_mode(bare)
    assert kserve.deploy_mode(bare, "knative") == "knative"


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert kserve.merge_patch(target, {"a": {"b": None, "c": [3]}, "e": {"f": 1}}) == {
        "a": {"c": [3]},
        "d": 1,
        "e": {"f": 1},
    }
    assert target == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # not mutated
