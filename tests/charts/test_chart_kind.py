"""values-kind.yaml against what one 4-CPU, 8 GiB kind node can hold and what kind's CNI does.

The node budget leaves about 2.5 GiB of the 8 for Kubernetes itself, cert-manager, the KServe
controller and the KubeRay operator (kind's own pods and the controllers request about 1.5 GiB).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
import yaml

from deploy.rehearsal.podspec import memory_bytes
from tests.charts.conftest import REPO_ROOT, all_pods, pods

NODE_CPU_BUDGET = 3.0
NODE_MEMORY_BUDGET = 5.5 * 2**30


def cpu(quantity: str | int) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def requests_of(docs: list[dict[str, Any]], rayjobs: int) -> tuple[float, int]:
    """(CPU, memory) requested by the long-running pods plus ``rayjobs`` RayJobs running at once."""
    total_cpu, total_memory, seen_rayjobs = 0.0, 0, 0
    for doc in docs:
        if doc["kind"] in ("ServingRuntime", "Job"):  # the runtime's container is in the predictors
            continue
        if doc["kind"] == "RayJob":
            seen_rayjobs += 1
            if seen_rayjobs > rayjobs:
                continue
        for pod in pods(doc):
            replicas = 1
            if pod.where.endswith(".workers"):
                replicas = doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"]
            for container in pod.containers:
                requested = (container.get("resources") or {}).get("requests") or {}
                total_cpu += replicas * cpu(requested.get("cpu", 0))
                total_memory += replicas * (memory_bytes(requested.get("memory", 0)) or 0)
    return total_cpu, total_memory


def test_kind_install_starts_neither_serving_nor_training(render):
    """`make deploy`: predictors would crash-loop until a version is published; RayJobs go one at a time."""
    docs = render("kind-install").docs
    kinds = {doc["kind"] for doc in docs}
    assert "InferenceService" not in kinds and "RayJob" not in kinds
    assert not [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-gateway")]


def test_kind_fits_one_node_with_one_rayjob_at_a_time(render):
    docs = render("kind").docs  # serving on, and all three RayJobs rendered
    cpu_one, memory_one = requests_of(docs, rayjobs=1)
    assert cpu_one <= NODE_CPU_BUDGET and memory_one <= NODE_MEMORY_BUDGET, (cpu_one, memory_one / 2**30)
    _, memory_three = requests_of(docs, rayjobs=3)
    assert memory_three > NODE_MEMORY_BUDGET, "three RayJobs at once must not be what kind runs"


def test_kind_ray_cluster_is_one_pod_and_others_share_checkpoint_storage(render):
    """Ray Train refuses a local storage_path once a worker runs on another pod."""
    for rayjob in render("kind").of_kind("RayJob"):
        cluster = rayjob["spec"]["rayClusterSpec"]
        assert cluster["workerGroupSpecs"][0]["replicas"] == 0
        head_env = {e["name"] for e in cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]}
        assert "MODELYARD_RAY_STORAGE_URI" not in head_env
    for rayjob in render("default").of_kind("RayJob"):
        cluster = rayjob["spec"]["rayClusterSpec"]
        assert cluster["workerGroupSpecs"][0]["replicas"] >= 1
        for group in (cluster["headGroupSpec"], cluster["workerGroupSpecs"][0]):
            env = {e["name"]: e.get("value") for e in group["template"]["spec"]["containers"][0]["env"]}
            assert env["MODELYARD_RAY_STORAGE_URI"] == (
                "s3://modelyard-artifacts/ray-results"
                "?endpoint_override=yard-modelyard-minio.modelyard-test.svc:9000&scheme=http"
            )
        assert rayjob["spec"]["backoffLimit"] == 2


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels") or {}
    return wanted.items() <= labels.items()


def _allows(policy: dict[str, Any], cidr: str, port: int) -> bool:
    network = ipaddress.ip_network(cidr)
    for rule in policy["spec"].get("ingress") or []:
        ports = [p["port"] for p in rule.get("ports") or []]
        if ports and port not in ports:
            continue
        peers = rule.get("from")
        if not peers:
            return True
        for peer in peers:
            block = peer.get("ipBlock")
            if block and network.subnet_of(ipaddress.ip_network(block["cidr"])):
                return True
    return False


def test_kind_lets_the_nodes_probe_every_probed_port(render):
    """kindnet's policies have blocked kubelet probes (kube-network-policies#150, kind#3875): every
    probe port of every pod is open to the node CIDRs of values-kind.yaml."""
    rendered = render("kind")
    policies = rendered.of_kind("NetworkPolicy")
    cidrs = yaml.safe_load((REPO_ROOT / "charts/modelyard/values-kind.yaml").read_text())["networkPolicy"][
        "probeFrom"
    ]
    assert cidrs
    checked = 0
    for pod in all_pods(rendered.docs):
        if pod.labels is None or not pod.long_running:
            continue
        for container in pod.containers:
            named = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind)
                if not probe:
                    continue
                port = probe["httpGet"]["port"]
                port = named.get(port, port)
                selecting = [p for p in policies if _selects(p, pod.labels)]
                for cidr in cidrs:
                    assert any(_allows(p, cidr, port) for p in selecting), (
                        f"{pod.where} {kind} :{port} from {cidr}"
                    )
                checked += 1
    assert checked >= 20


@pytest.mark.parametrize("value_set", ["default", "kind"])
def test_probe_rule_is_only_there_when_asked(render, value_set):
    text = render(value_set).text
    assert ("ipBlock" in text) == (value_set == "kind")


def test_docs_name_a_kind_release_that_runs_the_node_image():
    """kindest/node:v1.33.1 came with kind v0.29: the docs' minimum is the release CI runs."""
    workflow = (REPO_ROOT / ".github/workflows/kind-e2e.yml").read_text()
    (ci_version,) = re.findall(r"^\s*version: (v[0-9.]+)", workflow, re.MULTILINE)
    docs = (REPO_ROOT / "docs/kubernetes.md").read_text()
    stated = re.findall(r"\[kind\]\([^)]*\) (v[0-9.]+)\+", docs)
    assert stated == [ci_version.rsplit(".", 1)[0]], (stated, ci_version)
    assert "kindest/node:v1.33.1" in (REPO_ROOT / "deploy/kind/kind-config.yaml").read_text()
