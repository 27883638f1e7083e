"""``KubeRollouts`` command sequences against FakeKubectlRecorder (no API server can run here)."""

from __future__ import annotations

import copy

import pytest

from modelyard.errors import UnavailableError
from modelyard.rollout import kserve
from modelyard.rollout.kube import KubeRollouts
from tests.unit.rollout.fake_kube import FakeKubectlRecorder

STORE = "s3://modelyard-models"


def rollouts(api: FakeKubectlRecorder) -> KubeRollouts:
    return KubeRollouts(api, "modelyard", STORE, sleep=lambda _: None)


def test_standard_start_waits_for_the_canary_before_moving_traffic(standard_isvcs, crds) -> None:
    api = FakeKubectlRecorder(copy.deepcopy(standard_isvcs), crds, ready_after=3)
    change = rollouts(api).start("ranking", 2, 20, ready_timeout_s=30)
    verbs = [verb for verb, _, _ in api.calls]
    # get, deploy at 0 %, poll until ready (3 reads), then shift.
    assert verbs == ["get", "patch", "get", "get", "get", "get", "patch"]
    first, second = api.patches()
    assert first["spec"]["canary"][0]["trafficPercent"] == 0
    assert second["spec"]["canary"][0]["trafficPercent"] == 20
    assert change.patches == [first, second] and len(change.kubectl_commands()) == 2
    status = rollouts(api).status("ranking")
    assert (status["canary_version"], status["canary_ready"], status["canary_percent"]) == ("2", True, 20)


def test_a_canary_that_never_gets_ready_keeps_zero_traffic(standard_isvcs, crds) -> None:
    api = FakeKubectlRecorder(copy.deepcopy(standard_isvcs), crds, ready_after=10**9)
    with pytest.raises(UnavailableError, match="0 % of traffic"):
        KubeRollouts(api, "modelyard", STORE, sleep=lambda _: None).start("ranking", 2, 20, ready_timeout_s=0)
    assert [p["spec"]["canary"][0]["trafficPercent"] for p in api.patches()] == [0]


def test_knative_set_promote_sequence(knative_isvcs, crds) -> None:
    api = FakeKubectlRecorder(copy.deepcopy(knative_isvcs), crds, ready_after=1)
    driver = rollouts(api)
    driver.start("moderation", 4, 10, ready_timeout_s=30)
    driver.set_percent("moderation", 50)
    status = driver.status("moderation")
    assert status["canary_percent"] == 50 and status["mode"] == "knative"
    assert sorted(t["percent"] for t in status["traffic"]) == [50, 50]
    driver.promote("moderation")
    predictor = api.objects["moderation"]["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert predictor["model"]["storageUri"] == kserve.storage_uri(STORE, "moderation", 4)


def test_knative_rollback_moves_traffic_before_restoring_the_spec(knative_isvcs, crds) -> None:
    api = FakeKubectlRecorder(copy.deepcopy(knative_isvcs), crds, ready_after=1)
    stable_uri = knative_isvcs["ranking"]["spec"]["predictor"]["model"]["storageUri"]
    driver = rollouts(api)
    driver.start("ranking", 9, 25, ready_timeout_s=30)
    change = driver.rollback("ranking", "error rate too high")
    assert [p["spec"]["predictor"].get("canaryTrafficPercent", "unset") for p in change.patches] == [0, None]
    obj = api.objects["ranking"]
    assert obj["spec"]["predictor"]["model"]["storageUri"] == stable_uri
    assert obj["metadata"]["annotations"][kserve.REASON] == "error rate too high"
    assert kserve.CANARY_VERSION not in obj["metadata"]["annotations"]


def test_the_fake_refuses_what_the_api_server_would(standard_isvcs, crds) -> None:
    api = FakeKubectlRecorder(copy.deepcopy(standard_isvcs), crds)
    with pytest.raises(Exception, match="refuse"):
        api.patch("ranking", {"spec": {"canary": [{"trafficPercent": 101, "predictor": {"name": "v2"}}]}})
