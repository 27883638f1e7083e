"""Render charts/modelyard offline with helm for a handful of value sets.

helm comes from `.tools/bin/helm` (`make tools`) or PATH; without it every chart test is
skipped with that reason. Renders are cached for the session: each value set runs once.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.rehearsal.manifests import REHEARSAL_VALUES, Rendered, find_helm, parse_rendered

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelyard"
NAMESPACE = "modelyard-test"
RELEASE = "yard"

# Existing Secrets named by the "external" value set; their names may appear, never values.
EXTERNAL = (
    "minio.enabled=false,s3.existingSecret=ext-s3,s3.endpoint=https://s3.example.com,s3.useHttps=true,"
    "mlflow.backend.type=postgres,mlflow.backend.existingSecret=ext-pg,"
    "qdrant.existingSecret=ext-qdrant,gateway.existingSecret=ext-gateway"
)
ONLY_RANKING = (
    "minio.enabled=false,s3.existingSecret=ext-s3,qdrant.enabled=false,mlflow.enabled=false,"
    "gateway.enabled=false,training.enabled=false,"
    "models.visual-search.enabled=false,models.moderation.enabled=false"
)

MONITORING_APIS = ("monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule")

VALUE_SETS: dict[str, list[str]] = {
    "default": [],
    # `make deploy` on kind: storage, tracking and search only (no serving before a version exists)
    "kind-install": ["-f", str(CHART / "values-kind.yaml")],
    # kind once versions are published: what deploy/kind/e2e.sh and the rehearsal run
    "kind": ["-f", str(CHART / "values-kind.yaml"), "-f", str(REHEARSAL_VALUES)],
    "gpu": ["-f", str(CHART / "values-gpu.yaml")],
    "knative": ["--set", "serving.deploymentMode=Knative"],
    "only-ranking": ["--set", ONLY_RANKING],
    "external": ["--set", EXTERNAL],
    # a cluster that serves the Prometheus Operator's kinds: PodMonitors and a PrometheusRule render
    "monitoring": [f"--api-versions={api}" for api in MONITORING_APIS],
    # the retraining CronJob on the shared payload-log claim it needs
    "retraining": ["--set", "retraining.enabled=true,payloadLog.existingClaim=modelyard-logs"],
}
RETRAIN_MANIFEST = "rayjob.yaml"
"""Key of the retraining ConfigMaps: the RayJob each CronJob creates on drift."""


@pytest.fixture(scope="session")
def helm() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run helm with the given arguments; skips the test when helm is not installed."""
    binary = find_helm()
    if binary is None:
        pytest.skip("helm not found: run `make tools` (installs it into .tools/bin) or put helm on PATH")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)

    return run


@pytest.fixture(scope="session")
def template(helm) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`helm template` of the chart with extra arguments (value files, --set)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)

    return run


@pytest.fixture(scope="session")
def render(template) -> Callable[[str], Rendered]:
    """The rendered manifests of one named value set (see VALUE_SETS), cached per session."""
    cache: dict[str, Rendered] = {}

    def get(name: str) -> Rendered:
        if name not in cache:
            proc = template(*VALUE_SETS[name])
            assert proc.returncode == 0, f"helm template ({name}) failed:\n{proc.stderr}"
            cache[name] = parse_rendered(proc.stdout, RELEASE, NAMESPACE)
        return cache[name]

    return get


@dataclass(frozen=True)
class Pod:
    """A pod template found in a manifest, wherever the resource nests it."""

    where: str
    spec: dict[str, Any]  # pod-level fields (securityContext, volumes, tolerations...)
    containers: list[dict[str, Any]]
    long_running: bool  # servers need liveness/readiness probes; batch pods do not
    labels: dict[str, str] | None  # pod labels; None where the operator picks them (ServingRuntime)


def pods(doc: dict[str, Any]) -> Iterator[Pod]:
    kind, name, spec = doc["kind"], doc["metadata"]["name"], doc.get("spec", {})
    where = f"{kind}/{name}"
    if kind == "Pod":  # a `helm test` hook
        yield Pod(where, spec, spec["containers"], False, doc["metadata"]["labels"])
    elif kind in ("Deployment", "StatefulSet", "Job"):
        tpl = spec["template"]
        yield Pod(where, tpl["spec"], tpl["spec"]["containers"], kind != "Job", tpl["metadata"]["labels"])
    elif kind == "CronJob":
        tpl = spec["jobTemplate"]["spec"]["template"]
        yield Pod(where, tpl["spec"], tpl["spec"]["containers"], False, tpl["metadata"]["labels"])
    elif kind == "ConfigMap" and RETRAIN_MANIFEST in (doc.get("data") or {}):
        # The RayJob a CronJob creates later: its pods follow the same rules as the rendered ones.
        yield from pods(yaml.safe_load(doc["data"][RETRAIN_MANIFEST]))
    elif kind == "ServingRuntime":
        yield Pod(where, spec, spec["containers"], True, None)
    elif kind == "InferenceService":
        pred = spec["predictor"]
        containers = [pred["model"], *pred.get("containers", [])]
        yield Pod(f"{where}.predictor", pred, containers, True, pred.get("labels", {}))
        if "transformer" in spec:
            tr = spec["transformer"]
            yield Pod(f"{where}.transformer", tr, tr["containers"], True, tr.get("labels", {}))
    elif kind == "RayJob":
        cluster = spec["rayClusterSpec"]
        groups = [("head", cluster["headGroupSpec"])]
        groups += [(g["groupName"], g) for g in cluster.get("workerGroupSpecs", [])]
        if "submitterPodTemplate" in spec:
            groups.append(("submitter", {"template": spec["submitterPodTemplate"]}))
        for label, group in groups:
            tpl = group["template"]
            yield Pod(
                f"{where}.{label}", tpl["spec"], tpl["spec"]["containers"], False, tpl["metadata"]["labels"]
            )


def all_pods(docs: list[dict[str, Any]]) -> list[Pod]:
    return [pod for doc in docs for pod in pods(doc)]


def crds_dir() -> Path:
    """Upstream CRDs (KServe, KubeRay): $MODELYARD_CRDS_DIR or ../shared/crds beside the repo."""
    return Path(os.environ.get("MODELYARD_CRDS_DIR") or REPO_ROOT.parent / "shared" / "crds")


@pytest.fixture(scope="session")
def crds():
    from tests.charts.crd_schema import CrdRegistry

    path = crds_dir()
    if not path.is_dir():
        pytest.skip(f"upstream CRDs not found at {path}: set MODELYARD_CRDS_DIR to a folder of CRD files")
    return CrdRegistry(path)
