"""The retraining CronJob (values `retraining:`): off by default; on, a check per model that reads
the payload logs read-only and may create, read and delete RayJobs and nothing else; the RayJob it
creates is the training RayJob's template, valid against KubeRay's CRD once the CLI names it.

Pod security, resources and Kubernetes schemas of these objects are checked for every value set
(test_chart_policy.py, test_chart_render.py): conftest.pods() reads CronJobs and the RayJob
manifest inside each retraining ConfigMap.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import pytest
import typer.main
import yaml

from deploy.rehearsal.manifests import Rendered, parse_rendered
from loop.rayjob import MAX_NAME, RETRAIN_OF, retrain_rayjob
from tests.charts.conftest import NAMESPACE, RELEASE, RETRAIN_MANIFEST, VALUE_SETS, all_pods
from yard.main import app

FULL = f"{RELEASE}-modelyard"
ACCOUNT = f"{FULL}-retraining"
LOGS = "/var/lib/modelyard/logs"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LONGEST_FULLNAME = "release-name-as-long-as-the-schema-allow"
"""40 characters, values.schema.json's limit: the RayJob's name must still fit KubeRay's 47."""
VERBS_USED = {"list", "create", "delete"}
"""What loop.rayjob asks of the API server (InClusterRayJobs: GET list, POST, DELETE)."""


def cronjobs(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in rendered.of_kind("CronJob")}


def pod_of(cronjob: dict[str, Any]) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]


def manifest(rendered: Rendered, model: str) -> dict[str, Any]:
    return yaml.safe_load(rendered.configmap_data()[f"{FULL}-retrain-{model}"][RETRAIN_MANIFEST])


def rendered_with(template, *settings: str) -> Rendered:
    proc = template(*VALUE_SETS["retraining"], *(arg for s in settings for arg in ("--set", s)))
    assert proc.returncode == 0, proc.stderr
    return parse_rendered(proc.stdout, RELEASE, NAMESPACE)


def test_off_by_default(render):
    rendered = render("default")
    kinds = {"CronJob", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    assert [d["metadata"]["name"] for d in rendered.docs if d["kind"] in kinds] == []
    assert ACCOUNT not in {a["metadata"]["name"] for a in rendered.of_kind("ServiceAccount")}
    assert not [name for name in rendered.configmap_data() if "-retrain-" in name]


def test_a_cronjob_per_enabled_model_runs_the_monitor_and_submits_the_manifest(render, template):
    rendered = render("retraining")
    assert list(cronjobs(rendered)) == [f"{FULL}-retrain-moderation"]  # only moderation by default
    (cronjob,) = cronjobs(rendered).values()
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["schedule"] == "0 * * * *"
    pod = pod_of(cronjob)["spec"]
    (container,) = pod["containers"]
    command = container["command"]
    assert command[:2] == ["yard", "monitor"]
    # The arguments are the CLI's own: parse them the way `yard` will.
    monitor = typer.main.get_command(app).commands["monitor"]
    params = monitor.make_context("monitor", command[2:]).params
    assert (params["model"], params["since"], params["as_json"]) == ("moderation", "1h", True)
    submitted = PurePosixPath(str(params["submit_rayjob"]))
    (mount,) = [m for m in container["volumeMounts"] if PurePosixPath(m["mountPath"]) == submitted.parent]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == cronjob["metadata"]["name"]
    assert submitted.name == RETRAIN_MANIFEST

    more = rendered_with(template, "retraining.models.ranking.enabled=true,retraining.window=2h")
    assert sorted(cronjobs(more)) == [f"{FULL}-retrain-moderation", f"{FULL}-retrain-ranking"]
    ranking = pod_of(cronjobs(more)[f"{FULL}-retrain-ranking"])["spec"]["containers"][0]["command"]
    assert ranking[2:5] == ["ranking", "--since", "2h"]


def test_the_monitor_reads_the_shared_payload_logs_read_only(render):
    pod = pod_of(cronjobs(render("retraining"))[f"{FULL}-retrain-moderation"])["spec"]
    (container,) = pod["containers"]
    assert {"name": "payload-log", "mountPath": LOGS, "readOnly": True} in container["volumeMounts"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "payload-log"]
    assert volume["persistentVolumeClaim"] == {"claimName": "modelyard-logs"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELYARD_PAYLOAD_DIR"] == f"{LOGS}/payloads"
    assert env["MODELYARD_FEEDBACK_DIR"] == f"{LOGS}/feedback"
    assert env["MODELYARD_MLFLOW_TRACKING_URI"].startswith(f"http://{FULL}-mlflow.")


def test_rbac_grants_rayjobs_in_the_namespace_and_nothing_else(render):
    rendered = render("retraining")
    assert not rendered.of_kind("ClusterRole") and not rendered.of_kind("ClusterRoleBinding")
    (role,) = rendered.of_kind("Role")
    assert role["metadata"]["name"] == ACCOUNT
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["ray.io"] and rule["resources"] == ["rayjobs"]
    assert "resourceNames" not in rule
    assert VERBS_USED <= set(rule["verbs"]) <= VERBS_USED | {"get"}
    (binding,) = rendered.of_kind("RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}]
    assert rendered.get("ServiceAccount", ACCOUNT)["automountServiceAccountToken"] is False
    # The token reaches the CronJob pods only; every other pod of the release goes without.
    with_token = [p.where for p in all_pods(rendered.docs) if p.spec.get("automountServiceAccountToken")]
    assert with_token == [f"CronJob/{FULL}-retrain-moderation"]
    assert (
        pod_of(rendered.get("CronJob", f"{FULL}-retrain-moderation"))["spec"]["serviceAccountName"] == ACCOUNT
    )


def test_the_retraining_rayjob_is_the_training_template(render, template):
    rendered = render("retraining")
    job = manifest(rendered, "moderation")
    train = rendered.get("RayJob", f"{FULL}-train-moderation")
    assert job["metadata"]["labels"][RETRAIN_OF] == "moderation"
    assert job["spec"]["entrypoint"] == "yard retrain moderation --no-rollout"
    assert {k: v for k, v in job["spec"].items() if k not in ("entrypoint", "rayClusterSpec")} == {
        k: v for k, v in train["spec"].items() if k not in ("entrypoint", "rayClusterSpec")
    }
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    train_head = train["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert head["containers"][0]["resources"] == train_head["containers"][0]["resources"]
    # The retraining job reads the logs (read-only) and joins its own Ray cluster; training does neither.
    env = {e["name"]: e.get("value") for e in head["containers"][0]["env"]}
    assert env["MODELYARD_RAY_ADDRESS"] == "auto"
    assert {"name": "payload-log", "mountPath": LOGS, "readOnly": True} in head["containers"][0][
        "volumeMounts"
    ]
    assert "payload-log" not in {m["name"] for m in train_head["containers"][0]["volumeMounts"]}

    resized = rendered_with(template, "training.head.resources.limits.cpu=3,training.workers.replicas=2")
    job = manifest(resized, "moderation")["spec"]["rayClusterSpec"]
    assert job["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == 3
    assert job["workerGroupSpecs"][0]["replicas"] == 2


@pytest.mark.parametrize(
    "setting",
    ["retraining.models.ranking.enabled=true", f"fullnameOverride={LONGEST_FULLNAME}"],
)
def test_the_rayjob_the_cli_creates_passes_kuberays_crd_and_name_rules(template, crds, setting):
    rendered = rendered_with(template, setting)
    configmaps = [name for name in rendered.configmap_data() if "-retrain-" in name]
    assert len(configmaps) == (2 if "ranking" in setting else 1)
    for name in configmaps:
        chart_job = yaml.safe_load(rendered.configmap_data()[name][RETRAIN_MANIFEST])
        assert list(crds.errors(chart_job)) == [], name
        model = chart_job["metadata"]["labels"][RETRAIN_OF]
        now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
        job = retrain_rayjob(chart_job, model, "2026-12-03T11:00:00+00:00", now.isoformat(), now)
        assert list(crds.errors(job)) == [], name
        assert len(job["metadata"]["name"]) <= MAX_NAME and DNS_1035.match(job["metadata"]["name"])


def test_the_monitor_may_reach_mlflow_only_when_retraining_is_on(render):
    def mlflow_peers(rendered: Rendered) -> set[str]:
        policy = rendered.get("NetworkPolicy", f"{FULL}-mlflow")
        return {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for rule in policy["spec"]["ingress"]
            for peer in rule.get("from", [])
            if "podSelector" in peer
        }

    on, off = render("retraining"), render("default")
    assert "retraining" in mlflow_peers(on) and "retraining" not in mlflow_peers(off)
    labels = pod_of(cronjobs(on)[f"{FULL}-retrain-moderation"])["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "retraining"
    assert labels["app.kubernetes.io/instance"] == RELEASE


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("retraining.schedule=hourly", "retraining.schedule"),
        ("retraining.window=1 hour", "retraining.window"),
        ("retraining.models.chat.enabled=true", "chat"),
        ("retraining.historyLimit=-1", "retraining.historyLimit"),
        ("retraining.monitor.resources=null", "retraining.monitor"),
    ],
)
def test_bad_retraining_values_fail_the_render(template, setting, complaint):
    proc = template(*VALUE_SETS["retraining"], "--set", setting)
    assert proc.returncode != 0, f"{setting} rendered without complaint"
    assert complaint in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ("retraining.enabled=true", "needs payloadLog.existingClaim"),
        (
            "retraining.enabled=true,payloadLog.existingClaim=logs,training.enabled=false",
            "needs training.enabled",
        ),
    ],
)
def test_retraining_without_what_it_needs_fails_with_a_hint(template, settings, complaint):
    proc = template("--set", settings)
    assert proc.returncode != 0
    assert complaint in proc.stderr, proc.stderr
