"""The rollouts ConfigMap and how the gateway follows it; names the k8s rollout driver relies on."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from rollout import kserve
from rollout.kube import ChartRelease
from serving.gateway.rollout.state import RolloutsFile
from tests.charts.conftest import NAMESPACE, RELEASE

CHART = ChartRelease(NAMESPACE, RELEASE)


def gateway(rendered):
    (deployment,) = [d for d in rendered.of_kind("Deployment") if d["metadata"]["name"].endswith("-gateway")]
    return deployment["spec"]["template"]


def test_the_configmap_starts_empty_and_outlives_upgrades_and_uninstall(render):
    (configmap,) = [
        c for c in render("default").of_kind("ConfigMap") if c["metadata"]["name"].endswith("-rollouts")
    ]
    assert configmap["metadata"]["name"] == CHART.rollouts_configmap
    assert configmap["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # `helm template` has no cluster, so `lookup` finds nothing and the empty document renders.
    assert RolloutsFile.model_validate_json(configmap["data"]["rollouts.json"]).rollouts == {}


def test_the_gateway_follows_the_mounted_configmap_read_only(render):
    pod = gateway(render("default"))
    (container,) = pod["spec"]["containers"]
    (source,) = [a.split("=", 1)[1] for a in container["args"] if a.startswith("--rollouts-source=")]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "rollouts"]
    assert "subPath" not in mount  # a subPath mount never sees ConfigMap updates
    assert mount["readOnly"] is True
    assert PurePosixPath(source) == PurePosixPath(mount["mountPath"]) / "rollouts.json"
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "rollouts"]
    assert volume["configMap"]["name"] == CHART.rollouts_configmap


def test_gateway_routes_and_pods_are_where_the_rollout_driver_looks(render):
    rendered = render("default")
    pod = gateway(rendered)
    selector = dict(pair.split("=") for pair in CHART.gateway_selector.split(","))
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert {"containerPort": 8080, "name": "http"} in pod["spec"]["containers"][0]["ports"]
    routes = [a for a in pod["spec"]["containers"][0]["args"] if a.startswith("--route=")]
    for found in rendered.of_kind("InferenceService"):
        model = found["metadata"]["name"]
        url = kserve.transformer_url(model, NAMESPACE)
        assert f"--route={model}={url}@{kserve.served_version(found)}" in routes


@pytest.mark.parametrize("value_set", ["default", "knative"])
def test_candidate_pods_get_the_stable_pods_network_policies(render, value_set):
    rendered = render(value_set)
    policies = {
        p["metadata"]["name"].removeprefix("yard-modelyard-"): p for p in rendered.of_kind("NetworkPolicy")
    }
    stable = next(i for i in rendered.of_kind("InferenceService") if i["metadata"]["name"] == "ranking")
    candidate = kserve.candidate_isvc(stable, 2, "s3://modelyard-models/ranking/2")
    for component, labels in [
        ("predictor", candidate["spec"]["predictor"]["labels"]),
        ("transformer", candidate["spec"]["transformer"]["labels"]),
    ]:
        for name in ("default-deny", component):
            selected = policies[name]["spec"]["podSelector"]["matchLabels"].items()
            assert selected <= labels.items(), (name, labels)


def test_no_gateway_no_rollouts_configmap(render):
    assert not [
        c for c in render("only-ranking").of_kind("ConfigMap") if c["metadata"]["name"].endswith("-rollouts")
    ]
