"""Each value set passes `helm lint --strict` and validates against Kubernetes and CRD schemas."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.charts.conftest import CHART, VALUE_SETS

# A Kubernetes release whose schemas kubernetes-validate bundles (and kubectl v1.33 speaks).
K8S_VERSION = "1.33.0"
CUSTOM_GROUPS = ("serving.kserve.io/", "ray.io/", "monitoring.coreos.com/")
UPSTREAM_CRD_GROUPS = ("serving.kserve.io/", "ray.io/")
"""Groups whose CRDs are in MODELYARD_CRDS_DIR; the Prometheus Operator's: test_chart_monitoring.py."""


# helm lint has no --api-versions: the "monitoring" set adds nothing else to lint.
@pytest.mark.parametrize("value_set", [name for name in VALUE_SETS if name != "monitoring"])
def test_lint_strict(helm, value_set):
    proc = helm("lint", "--strict", str(CHART), *VALUE_SETS[value_set])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_builtin_objects_match_kubernetes_schemas(render, value_set):
    builtins = [d for d in render(value_set).docs if not d["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert builtins
    failures = []
    for doc in builtins:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("value_set", [name for name in VALUE_SETS if name != "kind-install"])
def test_custom_resources_match_upstream_crds(render, crds, value_set):
    """(kind-install renders no custom resource: serving and training wait for e2e.sh.)"""
    customs = [d for d in render(value_set).docs if d["apiVersion"].startswith(UPSTREAM_CRD_GROUPS)]
    assert customs
    failures = []
    for doc in customs:
        assert crds.knows(doc), f"no CRD for {doc['apiVersion']} {doc['kind']}"
        failures += [f"{doc['kind']}/{doc['metadata']['name']}: {e}" for e in crds.errors(doc)]
    assert not failures, "\n".join(failures)
