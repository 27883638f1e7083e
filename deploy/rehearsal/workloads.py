"""The pods and Services a cluster would run for the rendered chart (one replica of each).

Long-running pods: every Deployment and StatefulSet, and each InferenceService's predictor and
transformer as KServe builds them. Two have no server binary offline and get a stand-in, said so
in ``PodPlan.stand_in``: MinIO (moto's S3 server on MinIO's port) and Qdrant (an address with
nothing listening: searches answer 503 naming the store). Batch pods (RayJobs, the bucket Job)
are not run as pods: the rehearsal checks the RayJobs' submitter command (``kuberay``) and plays
the training and bucket steps itself (``seed``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from . import kserve
from .manifests import Rendered
from .podspec import PodPlan, Service, ServicePort, container_plan, port_number

MINIO_STAND_IN = (
    "no MinIO server binary offline: moto's S3 server (a stand-in) listens on MinIO's port; "
    "the bucket Job's `mc mb` is replaced by the same bucket calls through boto3"
)
QDRANT_STAND_IN = (
    "no Qdrant server binary offline: its pod gets an address but nothing listens there, "
    "so the searching models answer 503 naming the store"
)
S3_STAND_IN_COMMAND = ["moto_server", "-H", "$(BIND_HOST)", "-p", "9000"]
"""Binds where the rendered MinIO container would (its ``BIND_HOST``, the chart's ``bindHost``)."""


@dataclass
class Workloads:
    """Pods in start order, the Services in front of them, and what the rehearsal stands in for."""

    pods: list[PodPlan] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    rayjobs: list[dict[str, Any]] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    training_pod: PodPlan | None = None

    def pod(self, name: str) -> PodPlan:
        return next(plan for plan in self.pods if plan.name == name)

    def by_component(self, component: str) -> list[PodPlan]:
        return [plan for plan in self.pods if plan.component == component]


def plan_workloads(rendered: Rendered) -> Workloads:
    configmaps = rendered.configmap_data()
    work = Workloads()
    labels: dict[str, dict[str, str]] = {}
    for kind in ("Deployment", "StatefulSet"):
        for doc in rendered.of_kind(kind):
            template = _with_claims(doc)
            name = doc["metadata"]["name"] + ("-0" if kind == "StatefulSet" else "")
            component = template["metadata"]["labels"].get("app.kubernetes.io/component", name)
            container = template["spec"]["containers"][0]
            plan = container_plan(
                name, component, f"{kind}/{doc['metadata']['name']}", template["spec"], container, configmaps
            )
            _stand_in(plan, rendered.namespace)
            work.pods.append(plan)
            labels[name] = template["metadata"]["labels"]
    for isvc in rendered.of_kind("InferenceService"):
        work.pods += _inference_service(isvc, rendered, configmaps, work.services)
    work.services += _chart_services(rendered, labels, work.pods)
    work.pods.sort(key=_start_order)
    work.rayjobs = rendered.of_kind("RayJob")
    if work.rayjobs:
        head = work.rayjobs[0]["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
        work.training_pod = container_plan(
            "training",
            "training",
            f"RayJob/{work.rayjobs[0]['metadata']['name']} (head container)",
            head["spec"],
            head["spec"]["containers"][0],
            configmaps,
        )
    work.buckets = _buckets(rendered)
    return work


def _inference_service(
    isvc: dict[str, Any], rendered: Rendered, configmaps: dict[str, dict[str, str]], services: list[Service]
) -> list[PodPlan]:
    name = isvc["metadata"]["name"]
    origin = f"InferenceService/{name}"
    predictor = kserve.predictor_container(isvc, rendered)
    pred = container_plan(
        f"{name}-predictor",
        "predictor",
        f"{origin} predictor",
        kserve.predictor_pod_spec(isvc),
        predictor,
        configmaps,
    )
    pred.mounts = kserve.models_mount(pred.mounts)
    pred.storage_uri = isvc["spec"]["predictor"]["model"]["storageUri"]
    plans = [pred]
    services.append(Service(f"{name}-predictor", pred.name, kserve.service_ports(predictor)))
    if "transformer" in isvc["spec"]:
        transformer = kserve.transformer_container(isvc, rendered.namespace)
        plans.append(
            container_plan(
                f"{name}-transformer",
                "transformer",
                f"{origin} transformer",
                kserve.transformer_pod_spec(isvc),
                transformer,
                configmaps,
            )
        )
        services.append(
            Service(f"{name}-transformer", f"{name}-transformer", kserve.service_ports(transformer))
        )
    return plans


def _chart_services(
    rendered: Rendered, labels: dict[str, dict[str, str]], pods: list[PodPlan]
) -> list[Service]:
    """The chart's Services, each bound to the pod its selector picks (targetPort names resolved)."""
    found = []
    by_name = {plan.name: plan for plan in pods}
    for doc in rendered.of_kind("Service"):
        selector = doc["spec"].get("selector") or {}
        matches = [name for name, pod_labels in labels.items() if selector.items() <= pod_labels.items()]
        if not matches:
            continue
        pod = by_name[matches[0]]
        ports = tuple(
            ServicePort(
                int(p["port"]),
                port_number(p.get("targetPort", p["port"]), pod.ports, doc["metadata"]["name"]),
            )
            for p in doc["spec"].get("ports") or []
        )
        names = tuple(p.get("name", "") for p in doc["spec"].get("ports") or [])
        headless = doc["spec"].get("clusterIP") == "None"
        found.append(Service(doc["metadata"]["name"], pod.name, ports, names, headless))
    return found


def _with_claims(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod template, with a StatefulSet's ``volumeClaimTemplates`` as the claims of pod 0."""
    template = copy.deepcopy(doc["spec"]["template"])
    for claim in doc["spec"].get("volumeClaimTemplates") or []:
        name = claim["metadata"]["name"]
        template["spec"].setdefault("volumes", []).append(
            {"name": name, "persistentVolumeClaim": {"claimName": f"{name}-{doc['metadata']['name']}-0"}}
        )
    return template


def _stand_in(plan: PodPlan, namespace: str) -> None:
    if plan.component == "minio":
        plan.stand_in = MINIO_STAND_IN
        plan.command, plan.args, plan.probes = list(S3_STAND_IN_COMMAND), [], []
        # moto reads the first label of an unknown host name as a bucket (virtual-hosted style);
        # the Service's names are endpoints, as they are for MinIO.
        names = [plan.name, f"{plan.name}.{namespace}", f"{plan.name}.{namespace}.svc"]
        endpoints = ",".join(f"http://{name}:9000" for name in names)
        plan.env_entries.append({"name": "MOTO_S3_CUSTOM_ENDPOINTS", "value": endpoints})
    elif plan.component == "qdrant":
        plan.stand_in = QDRANT_STAND_IN
        plan.command, plan.args, plan.probes = [], [], []


def _buckets(rendered: Rendered) -> list[str]:
    """The buckets the chart's MinIO bucket Job creates (``mc mb ... local/<bucket>``)."""
    for job in rendered.of_kind("Job"):
        command = job["spec"]["template"]["spec"]["containers"][0].get("command") or []
        if command[:2] == ["mc", "mb"]:
            return [word.removeprefix("local/") for word in command if word.startswith("local/")]
    return []


_ORDER = ("minio", "qdrant", "mlflow", "predictor", "transformer", "gateway")


def _start_order(plan: PodPlan) -> int:
    return _ORDER.index(plan.component) if plan.component in _ORDER else len(_ORDER)
