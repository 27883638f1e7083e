"""The chart's side of the security model (docs/operations.md, "Security model"): who reaches the
transformers, where the gateway's keys come from, the keyless metrics port, Triton's restricted
APIs, and images pinned by digest."""

from __future__ import annotations

import pytest
import yaml

from tests.charts.conftest import RELEASE

DIGEST = "sha256:" + "ab" * 32


def policy(rendered, name):
    (found,) = [
        p for p in rendered.of_kind("NetworkPolicy") if p["metadata"]["name"] == f"{RELEASE}-modelyard-{name}"
    ]
    return found["spec"]


def gateway_container(rendered):
    (deployment,) = [d for d in rendered.of_kind("Deployment") if d["metadata"]["name"].endswith("-gateway")]
    return deployment["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("value_set", ["default", "knative"])
def test_only_gateway_pods_reach_the_transformers(render, value_set):
    """Transformers have no auth: the gateway (and, in Knative mode, Knative's activator) only."""
    rules = policy(render(value_set), "transformer")["ingress"]
    gateway_rule = rules[0]
    assert gateway_rule["ports"] == [{"port": 8080}]
    (peer,) = gateway_rule["from"]
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    others = rules[1:]
    if value_set == "knative":
        (activator,) = others
        assert activator["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "knative-serving"
        }
    else:
        assert others == []
    assert all(rule.get("from") for rule in rules), "a rule without 'from' admits every pod"


def test_the_gateway_admits_anyone_on_its_api_port_and_metrics_peers_on_9090(render, template):
    rules = policy(render("default"), "gateway")["ingress"]
    assert rules == [{"ports": [{"port": 8080}]}, {"ports": [{"port": 9090}]}]
    monitoring = "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring"
    narrowed = yaml.safe_load_all(
        template("--set", monitoring, "--show-only", "templates/networkpolicies.yaml").stdout
    )
    spec = next(d for d in narrowed if d and d["metadata"]["name"].endswith("-gateway"))["spec"]
    assert spec["ingress"][1]["from"] == [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}]


def test_the_gateway_gets_both_keys_and_serves_metrics_on_its_own_port(render):
    container = gateway_container(render("default"))
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELYARD_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "api-key"
    assert env["MODELYARD_ADMIN_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "admin-key"
    assert env["MODELYARD_GATEWAY_METRICS_PORT"]["value"] == "9090"
    assert {"name": "metrics", "containerPort": 9090} in container["ports"]
    (secret,) = [s for s in render("default").of_kind("Secret") if s["metadata"]["name"].endswith("-gateway")]
    assert set(secret["data"]) == {"api-key", "admin-key"}


def test_triton_restricts_the_apis_that_change_it_with_a_secret_header(render):
    (runtime,) = render("default").of_kind("ServingRuntime")
    container = runtime["spec"]["containers"][0]
    setting = "model-repository,shared-memory,logging,trace:x-modelyard-triton-key=$(TRITON_RESTRICTED_KEY)"
    assert f"--http-restricted-api={setting}" in container["args"]
    assert f"--grpc-restricted-protocol={setting}" in container["args"]
    (key,) = [e for e in container["env"] if e["name"] == "TRITON_RESTRICTED_KEY"]
    assert key["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-modelyard-triton",
        "key": "restricted-key",
    }


def test_an_image_digest_pins_the_image_by_content(template):
    proc = template("--set", f"images.serving.digest={DIGEST}", "--set", f"images.qdrant.digest={DIGEST}")
    assert proc.returncode == 0, proc.stderr
    assert f"ghcr.io/modelyard/serving@{DIGEST}" in proc.stdout
    assert f"qdrant/qdrant@{DIGEST}" in proc.stdout
    assert "ghcr.io/modelyard/serving:" not in proc.stdout


def test_a_third_party_image_may_be_pinned_by_digest_alone(template):
    proc = template("--set", "images.qdrant.tag=", "--set", f"images.qdrant.digest={DIGEST}")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "ab" * 16, "latest", "SHA256:" + "AB" * 32])
def test_a_malformed_digest_fails_the_render(template, digest):
    proc = template("--set", f"images.serving.digest={digest}")
    assert proc.returncode != 0 and "images.serving.digest" in proc.stderr
