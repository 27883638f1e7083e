"""`helm test`: a hook pod that queries every served model through the gateway (files/gateway_smoke.py).
That the script passes against a real gateway is tests/integration/test_chart_operators.py."""

from __future__ import annotations

import ast

import pytest

from modelyard.models import MODELS
from tests.charts.conftest import CHART, RELEASE

SCRIPT = CHART / "files" / "gateway_smoke.py"
HOOK = f"{RELEASE}-modelyard-test-gateway"


def hook_objects(rendered) -> tuple[dict, dict]:
    return rendered.get("Pod", HOOK), rendered.get("ConfigMap", HOOK)


def model_args(pod: dict) -> list[str]:
    return [
        a.removeprefix("--model=") for a in pod["spec"]["containers"][0]["args"] if a.startswith("--model=")
    ]


@pytest.mark.parametrize("value_set", ["default", "kind", "external"])
def test_the_hook_queries_every_enabled_model_with_the_chart_api_key(render, value_set):
    pod, configmap = hook_objects(render(value_set))
    for obj in (pod, configmap):
        assert obj["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert sorted(model_args(pod)) == sorted(MODELS)
    container = pod["spec"]["containers"][0]
    assert f"--gateway=http://{RELEASE}-modelyard-gateway.modelyard-test.svc:8080" in container["args"]
    (key,) = container["env"]
    secret = "ext-gateway" if value_set == "external" else f"{RELEASE}-modelyard-gateway"
    assert key == {
        "name": "MODELYARD_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": secret, "key": "api-key"}},
    }
    assert pod["spec"]["restartPolicy"] == "Never"


def test_the_pod_runs_the_script_the_chart_ships(render):
    pod, configmap = hook_objects(render("default"))
    assert configmap["data"]["gateway_smoke.py"] == SCRIPT.read_text().rstrip("\n")
    (mount,) = pod["spec"]["containers"][0]["volumeMounts"]
    assert pod["spec"]["containers"][0]["command"] == ["python", f"{mount['mountPath']}/gateway_smoke.py"]
    (volume,) = pod["spec"]["volumes"]
    assert volume == {"name": mount["name"], "configMap": {"name": HOOK}}
    assert pod["spec"]["containers"][0]["image"] == "ghcr.io/modelyard/serving:0.1.0"


def test_the_configmap_is_created_before_the_pod(render):
    pod, configmap = hook_objects(render("default"))
    weight = int(configmap["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight < int(pod["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))


def test_a_disabled_model_is_not_queried(template):
    proc = template(
        "--set", "models.moderation.enabled=false", "--show-only", "templates/tests/gateway-smoke.yaml"
    )
    assert proc.returncode == 0, proc.stderr
    assert "--model=moderation" not in proc.stdout and "--model=ranking" in proc.stdout


@pytest.mark.parametrize("value_set", ["kind-install", "only-ranking"])
def test_no_hook_without_a_gateway_and_serving(render, value_set):
    """kind-install serves nothing yet; only-ranking runs no gateway."""
    names = {d["metadata"]["name"] for d in render(value_set).docs}
    assert HOOK not in names


def test_the_script_has_a_probe_for_every_model_and_only_the_standard_library():
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "argparse", "dataclasses", "json", "os", "sys", "time", "urllib"}
    probes = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "PROBES")
    assert sorted(k.value for k in probes.value.keys) == sorted(MODELS)
