"""Security and operability rules every rendered pod must follow, for every value set."""

from __future__ import annotations

import base64
import re

import pytest

from tests.charts.conftest import VALUE_SETS, all_pods

IMAGE_FIELDS = re.compile(r"^\s*-?\s*image:\s*\"?([^\s\"]+)", re.MULTILINE)


@pytest.fixture(params=list(VALUE_SETS))
def rendered(request, render):
    return render(request.param)


def isvc(rendered, name):
    (found,) = [i for i in rendered.of_kind("InferenceService") if i["metadata"]["name"] == name]
    return found


def containers(rendered):
    return [(pod, c) for pod in all_pods(rendered.docs) for c in pod.containers]


def test_every_container_has_requests_and_limits(rendered):
    missing = [
        f"{pod.where}/{c.get('name', 'model')}"
        for pod, c in containers(rendered)
        if not {"cpu", "memory"} <= set(c.get("resources", {}).get("requests", {}))
        or not {"cpu", "memory"} <= set(c.get("resources", {}).get("limits", {}))
    ]
    assert not missing


def test_servers_have_liveness_and_readiness_probes(rendered):
    missing = [
        f"{pod.where}/{c.get('name', 'model')}"
        for pod, c in containers(rendered)
        if pod.long_running and not ("livenessProbe" in c and "readinessProbe" in c)
    ]
    assert not missing


def test_restricted_security_context(rendered):
    bad = []
    for pod, c in containers(rendered):
        sc, psc = c.get("securityContext", {}), pod.spec.get("securityContext", {})
        checks = {
            "runAsNonRoot": sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True,
            "no privilege escalation": sc.get("allowPrivilegeEscalation") is False,
            "drop ALL": sc.get("capabilities", {}).get("drop") == ["ALL"],
            "seccomp": (sc.get("seccompProfile") or psc.get("seccompProfile", {})).get("type")
            == "RuntimeDefault",
        }
        bad += [f"{pod.where}/{c.get('name', 'model')}: {k}" for k, ok in checks.items() if not ok]
    assert not bad


def test_read_only_root_filesystem_except_ray(rendered):
    # Ray writes its session files and auth token under the home directory (see _training.tpl).
    writable = [
        f"{pod.where}/{c.get('name', 'model')}"
        for pod, c in containers(rendered)
        if c["securityContext"]["readOnlyRootFilesystem"] is not True
        and c.get("name") not in ("ray-head", "ray-worker")
    ]
    assert not writable


def test_images_are_pinned(rendered):
    images = IMAGE_FIELDS.findall(rendered.text)
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image} has no tag"
        assert tag.lower() != "latest", image


def test_our_images_default_to_the_app_version(render):
    images = set(IMAGE_FIELDS.findall(render("default").text))
    for ours in ("serving", "triton", "training"):
        assert f"ghcr.io/modelyard/{ours}:0.1.0" in images


def test_generated_secrets_appear_only_base64_inside_their_secret(rendered):
    secrets = rendered.of_kind("Secret")
    values = [base64.b64decode(v).decode() for s in secrets for v in s.get("data", {}).values()]
    assert all(len(v) >= 32 for v in values), "generated keys must be long"
    for s in secrets:
        assert "stringData" not in s
    for value in values:
        assert value not in rendered.text, "a secret value is rendered in plain text"


def test_existing_secrets_are_referenced_not_rendered(render):
    """Credentials someone else uses come from the user's Secrets. The Triton restricted-API key
    is the one generated Secret left: no client ever sends it (nothing in the cluster loads models
    through Triton's API), it only has to be unguessable."""
    rendered = render("external")
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == ["yard-modelyard-triton"]
    refs = set(re.findall(r"secretKeyRef: \{name: ([\w-]+)", rendered.text))
    assert refs == {"ext-s3", "ext-pg", "ext-qdrant", "ext-gateway", "yard-modelyard-triton"}


def test_gpu_values_place_predictors_on_gpu_nodes(render):
    isvcs = render("gpu").of_kind("InferenceService")
    assert len(isvcs) == 3
    for found in isvcs:
        pred = found["spec"]["predictor"]
        model = pred["model"]
        assert model["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pred["tolerations"]
        assert pred["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        # Triton loads configs/gpu.pbtxt (KIND_GPU), which every publish writes.
        assert model["args"] == ["--model-config-name=gpu"]
        # Transformers stay on CPU nodes.
        assert "nvidia.com/gpu" not in found["spec"]["transformer"]["containers"][0]["resources"]["limits"]


def test_gpu_values_run_the_cuda_torch_image_variant(render):
    (runtime,) = render("gpu").of_kind("ServingRuntime")
    assert runtime["spec"]["containers"][0]["image"].endswith(":0.1.0-gpu")
    (cpu_runtime,) = render("default").of_kind("ServingRuntime")
    assert cpu_runtime["spec"]["containers"][0]["image"].endswith(":0.1.0")


def test_cpu_values_request_no_gpu(render):
    rendered = render("default")
    assert "nvidia.com/gpu" not in rendered.text
    for found in rendered.of_kind("InferenceService"):
        assert "args" not in found["spec"]["predictor"]["model"]  # config.pbtxt: KIND_CPU


@pytest.mark.parametrize("value_set", ["default", "knative"])
def test_no_kserve_canary_is_rendered(render, value_set):
    """KServe's canary splits only the predictor; rollouts use a second InferenceService instead."""
    for found in render(value_set).of_kind("InferenceService"):
        assert "canary" not in found["spec"]
        assert "canaryTrafficPercent" not in found["spec"]["predictor"]


def test_only_ranking_renders_just_that_model(render):
    rendered = render("only-ranking")
    assert [i["metadata"]["name"] for i in rendered.of_kind("InferenceService")] == ["ranking"]
    assert {d["kind"] for d in rendered.docs} >= {"ServingRuntime", "NetworkPolicy"}
    assert not rendered.of_kind("RayJob") and not rendered.of_kind("StatefulSet")


def test_default_deny_network_policy_covers_the_release(rendered):
    policies = {p["metadata"]["name"]: p for p in rendered.of_kind("NetworkPolicy")}
    deny = policies["yard-modelyard-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    selected = deny["podSelector"]["matchLabels"].items()
    unselected = [
        p.where for p in all_pods(rendered.docs) if p.labels is not None and not selected <= p.labels.items()
    ]
    assert not unselected
