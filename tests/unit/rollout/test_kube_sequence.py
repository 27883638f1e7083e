"""``yard rollout --target k8s`` command sequences: the shared driver over ConfigMapRollouts and
KubeCandidates, against FakeKubectlRecorder (no API server can run here) and real gateways."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.errors import UnavailableError, UsageError
from modelyard.registry import ResolvedVersion
from modelyard.settings import get_settings
from rollout import kserve
from rollout.analysis import AnalysisPolicy
from rollout.driver import Rollouts
from rollout.kube import ISVC, ConfigMapRollouts, KubeCandidates
from rollout.progressive import run_steps
from tests.unit.rollout.fake_kube import FakeKubectlRecorder, FakeRegistry, configmap_document, fake_cluster
from tests.unit.serving.gateway_harness import ADMIN

STORE = "s3://modelyard-models"
NS = "modelyard"
CM = "configmap/modelyard-rollouts"


def url(name: str) -> str:
    return f"http://{name}-transformer.{NS}.svc"


def version(model: str, number: int) -> ResolvedVersion:
    return ResolvedVersion(name=model, version=number, run_id="run", source=f"{STORE}/{model}/{number}")


@pytest.fixture
def cluster(standard_isvcs, crds, tmp_path: Path, monkeypatch) -> Iterator[FakeKubectlRecorder]:
    with fake_cluster(standard_isvcs, crds, tmp_path, monkeypatch) as api:
        yield api


def driver(api: FakeKubectlRecorder, registry: Any = None) -> tuple[Rollouts, list[str], list[tuple]]:
    """The driver as ``yard rollout --target k8s`` builds it; returns it, the printed kubectl
    commands, and the (model, version) pairs indexed into Qdrant."""
    commands: list[str] = []
    indexed: list[tuple] = []
    backend = ConfigMapRollouts(
        api, api.chart, commands, sleep=lambda _: time.sleep(0.02), propagation_timeout_s=20
    )
    host = KubeCandidates(api, NS, STORE, lambda m, v: indexed.append((m, v)), commands, sleep=lambda _: None)
    return Rollouts(get_settings(), backend, registry or FakeRegistry(), host), commands, indexed


def pod_views(api: FakeKubectlRecorder, model: str) -> list[dict | None]:
    """What each gateway pod routes by, through its (read-only) admin API."""
    return [
        client.get(f"/admin/rollouts/{model}", headers=ADMIN).json()["rollout"]
        for client in api.pods.values()
    ]


def test_start_set_promote_rollback(cluster: FakeKubectlRecorder) -> None:
    registry = FakeRegistry()
    rollouts, commands, indexed = driver(cluster, registry)

    started = rollouts.start("moderation", version("moderation", 2), 20, "canary", ready_timeout_s=30)
    assert cluster.verbs() == [f"apply {ISVC}/moderation-v2", f"patch {CM}"]
    assert indexed == [("moderation", 2)]  # the collection exists before the transformer starts
    candidate = cluster.isvcs["moderation-v2"]
    assert candidate["spec"]["predictor"]["model"]["storageUri"] == f"{STORE}/moderation/2"
    assert "--version=2" in candidate["spec"]["transformer"]["containers"][0]["args"]
    assert (started.canary.url, started.percent, started.stable.url) == (
        url("moderation-v2"),
        20,
        url("moderation"),
    )
    assert [view["percent"] for view in pod_views(cluster, "moderation")] == [20, 20]  # every pod applied it
    cluster.send(200, "moderation")
    hosts = set(cluster.transformers.hosts)
    assert {f"moderation-transformer.{NS}.svc", f"moderation-v2-transformer.{NS}.svc"} <= hosts

    assert rollouts.set_percent("moderation", 50).percent == 50
    assert configmap_document(cluster)["rollouts"]["moderation"]["percent"] == 50

    promoted, aliases, embeddings = rollouts.promote("moderation")
    assert aliases == {"champion": 2, "previous": 1} and embeddings is None  # moderation has no collection
    assert (promoted.stable.url, promoted.previous.url, promoted.canary) == (
        url("moderation-v2"),
        url("moderation"),
        None,
    )
    assert [view["phase"] for view in pod_views(cluster, "moderation")] == ["promoted", "promoted"]
    assert "moderation-v2" in cluster.isvcs  # the new champion keeps serving

    back = rollouts.rollback("moderation", "p99 regression")
    assert (back.stable.url, back.phase, back.reason) == (url("moderation"), "rolled_back", "p99 regression")
    assert registry.calls == ["set_alias challenger=2", "promote", "rollback"]
    assert "moderation-v2" not in cluster.isvcs and "moderation" in cluster.isvcs
    assert cluster.verbs()[-2:] == [f"patch {CM}", f"delete {ISVC}/moderation-v2"]

    kinds = [shlex.split(c.split("\n")[0])[3] for c in commands]
    assert kinds == ["apply", "wait", "patch", "patch", "patch", "patch", "delete"]


def test_printed_commands_do_the_same_by_hand(cluster: FakeKubectlRecorder) -> None:
    rollouts, commands, _ = driver(cluster)
    rollouts.start("moderation", version("moderation", 3), 10, "canary", ready_timeout_s=30)
    apply, wait, patch = commands
    head, _, rest = apply.partition("\n")
    assert head == "kubectl -n modelyard apply -f - <<'EOF'" and rest.endswith("\nEOF")
    assert (
        kserve.candidate_isvc(cluster.isvcs["moderation"], 3, f"{STORE}/moderation/3")["metadata"]["name"]
        in rest
    )
    assert shlex.split(wait) == [
        "kubectl", "-n", "modelyard", "wait", "--for=condition=Ready", "isvc/moderation-v3", "--timeout=30s"
    ]  # fmt: skip
    words = shlex.split(patch)
    assert words[:8] == [
        "kubectl",
        "-n",
        "modelyard",
        "patch",
        "configmap",
        "modelyard-rollouts",
        "--type",
        "merge",
    ]
    import json

    body = json.loads(words[words.index("-p") + 1])
    assert body == {"data": {"rollouts.json": cluster.configmap["data"]["rollouts.json"]}}


@pytest.mark.parametrize("isvcs", ["standard_isvcs", "knative_isvcs"])
def test_start_then_rollback_deletes_the_candidate(isvcs, request, crds, tmp_path, monkeypatch) -> None:
    with fake_cluster(request.getfixturevalue(isvcs), crds, tmp_path, monkeypatch) as api:
        rollouts, commands, _ = driver(api)
        rollouts.start("ranking", version("ranking", 2), 30, "canary", ready_timeout_s=30)
        back = rollouts.rollback("ranking", "manual rollback")
        assert (back.canary, back.percent, back.phase) == (None, 0, "rolled_back")
        assert "ranking-v2" not in api.isvcs
        assert [view["canary"] for view in pod_views(api, "ranking")] == [None, None]
        assert commands[-1] == "kubectl -n modelyard delete isvc ranking-v2 --ignore-not-found"


def test_shadow_start_mirrors_while_callers_get_stable(cluster: FakeKubectlRecorder) -> None:
    rollouts, _, _ = driver(cluster)
    shadow = rollouts.start("ranking", version("ranking", 4), 100, "shadow", ready_timeout_s=30)
    assert (shadow.mode, shadow.percent, shadow.canary.url) == ("shadow", 100, url("ranking-v4"))
    assert [(v["mode"], v["percent"]) for v in pod_views(cluster, "ranking")] == [("shadow", 100)] * 2
    for client in cluster.pods.values():
        answer = client.post("/v1/models/ranking:predict", json={"instances": [1]})
        assert answer.headers["x-modelyard-version"] == "1"


def test_steps_auto_rolls_a_failing_candidate_back_on_summed_pod_metrics(
    cluster: FakeKubectlRecorder,
) -> None:
    rollouts, commands, _ = driver(cluster)
    cluster.transformers.failing.add(f"ranking-v2-transformer.{NS}.svc")
    rollout = rollouts.start("ranking", version("ranking", 2), 10, "canary", ready_timeout_s=30)
    sent = 0

    def traffic(_: float) -> None:
        nonlocal sent
        cluster.send(300, "ranking")
        sent += 300

    outcome = run_steps(rollouts, rollout, [10, 50, 100], 0.0, AnalysisPolicy(min_requests=10), wait=traffic)
    assert not outcome.passed and outcome.reason.startswith("step 10%")
    (step,) = outcome.steps
    assert step.canary.errors == step.canary.requests > 0 and step.stable.errors == 0
    assert step.canary.requests + step.stable.requests == sent  # both pods' counters, summed
    document = configmap_document(cluster)["rollouts"]["ranking"]
    assert (document["phase"], document["canary"]) == ("rolled_back", None)
    assert document["reason"].startswith("automatic rollback at step 10%")
    assert "ranking-v2" not in cluster.isvcs
    assert commands[-1] == "kubectl -n modelyard delete isvc ranking-v2 --ignore-not-found"


def test_a_candidate_that_never_gets_ready_moves_no_traffic(cluster: FakeKubectlRecorder) -> None:
    cluster.never_ready.add("ranking-v5")
    rollouts, commands, _ = driver(cluster)
    with pytest.raises(UnavailableError, match="no traffic was moved") as failed:
        rollouts.start("ranking", version("ranking", 5), 10, "canary", ready_timeout_s=0)
    assert "kubectl -n modelyard describe isvc ranking-v5" in failed.value.hint
    assert cluster.verbs() == [f"apply {ISVC}/ranking-v5"]
    assert configmap_document(cluster)["rollouts"] == {}
    assert [shlex.split(c.split("\n")[0])[3] for c in commands] == ["apply", "wait"]


def test_the_stable_version_cannot_be_its_own_candidate(cluster: FakeKubectlRecorder) -> None:
    rollouts, _, _ = driver(cluster)
    with pytest.raises(UsageError, match="already the stable"):
        rollouts.start("ranking", version("ranking", 1), 10, "canary", ready_timeout_s=30)
    assert cluster.verbs() == []


def test_a_concurrent_write_is_retried_on_the_fresh_configmap(cluster: FakeKubectlRecorder) -> None:
    rollouts, _, _ = driver(cluster)
    rollouts.start("ranking", version("ranking", 2), 10, "canary", ready_timeout_s=30)
    patch = cluster.patch
    raced = []

    def racing_patch(kind: str, name: str, body: dict) -> dict:
        if not raced:  # someone else writes between our read and our patch
            raced.append(patch(kind, name, {"data": {}}))
        return patch(kind, name, body)

    cluster.patch = racing_patch  # type: ignore[method-assign]
    assert rollouts.set_percent("ranking", 40).percent == 40
    assert [v["percent"] for v in pod_views(cluster, "ranking")] == [40, 40]


def test_the_fake_refuses_what_the_api_server_would(cluster: FakeKubectlRecorder) -> None:
    candidate = kserve.candidate_isvc(cluster.isvcs["ranking"], 2, f"{STORE}/ranking/2")
    candidate["spec"]["predictor"]["modle"] = {}  # a typo the CRD does not know
    with pytest.raises(UsageError, match="refuse"):
        cluster.apply(candidate)
