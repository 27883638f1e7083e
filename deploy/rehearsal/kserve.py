"""What KServe v0.20's controller makes of an InferenceService in Standard (raw Deployment) mode.

Ported from its reconcilers, for the fields the chart uses:

* transformer (``CustomTransformer.GetContainer``): appends ``--model_name <isvc>``,
  ``--predictor_host <isvc>-predictor.<namespace>`` and ``--http_port 8080`` unless an argument
  already starts with the flag (``utils.IncludesArg`` is a prefix match);
* predictor (``MergeRuntimeContainers``): the ServingRuntime's ``kserve-container`` strategic-merged
  with the ``model`` spec (env by name, ports by number, mounts by path; scalars and probes from
  the model win) and its args appended to the runtime's; the storage initializer downloads
  ``storageUri`` into an emptyDir mounted read-only at ``/mnt/models``;
* Services ``<isvc>-predictor`` / ``<isvc>-transformer``: port 80 to the first container port
  (8080 when none is declared), further ports one to one.
"""

from __future__ import annotations

import copy
from typing import Any

from modelyard.errors import UsageError

from .manifests import Rendered
from .podspec import Mount, ServicePort

CONTAINER = "kserve-container"
DEFAULT_HTTP_PORT = 8080
SERVICE_PORT = 80
MODEL_MOUNT = "/mnt/models"
MODEL_FIELDS = ("modelFormat", "runtime", "protocolVersion", "storageUri", "storage")
COMPONENT_FIELDS = ("minReplicas", "maxReplicas", "model", "containers", "labels", "annotations")
_MERGE_KEYS = {"env": "name", "ports": "containerPort", "volumeMounts": "mountPath"}


def includes_arg(args: list[str], flag: str) -> bool:
    """KServe's ``utils.IncludesArg``: equal, or starting with the flag (so ``--flag=value`` counts)."""
    return any(arg == flag or arg.startswith(flag) for arg in args)


def transformer_container(isvc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The transformer container after the controller added its arguments."""
    name = isvc["metadata"]["name"]
    container = copy.deepcopy(isvc["spec"]["transformer"]["containers"][0])
    container["name"] = CONTAINER
    args = [str(arg) for arg in container.get("args") or []]
    injected = [
        ("--model_name", name),
        ("--predictor_host", f"{name}-predictor.{namespace}"),
        ("--http_port", str(DEFAULT_HTTP_PORT)),
    ]
    for flag, value in injected:
        if not includes_arg(args, flag):
            args += [flag, value]
    container["args"] = args
    return container


def predictor_container(isvc: dict[str, Any], rendered: Rendered) -> dict[str, Any]:
    """The runtime's container merged with the InferenceService's ``model`` spec."""
    model = isvc["spec"]["predictor"]["model"]
    runtime = rendered.get("ServingRuntime", model["runtime"])
    containers = [c for c in runtime["spec"]["containers"] if c["name"] == CONTAINER]
    if not containers:
        raise UsageError(
            f"ServingRuntime {model['runtime']} has no container named {CONTAINER}",
            hint="KServe would fail the InferenceService: name the runtime's container kserve-container",
        )
    merged = copy.deepcopy(containers[0])
    overrides = {key: value for key, value in model.items() if key not in MODEL_FIELDS}
    for key, value in overrides.items():
        if key == "args":
            continue
        if key in _MERGE_KEYS:
            merged[key] = _merge_list(merged.get(key) or [], value, _MERGE_KEYS[key])
        else:
            merged[key] = copy.deepcopy(value)
    merged["args"] = [*(merged.get("args") or []), *(model.get("args") or [])]
    merged.setdefault("volumeMounts", []).append(
        {"name": "kserve-provision-location", "mountPath": MODEL_MOUNT, "readOnly": True}
    )
    return merged


def predictor_pod_spec(isvc: dict[str, Any]) -> dict[str, Any]:
    """Pod-level fields of the predictor (securityContext, volumes...), with the model volume."""
    pod = {k: copy.deepcopy(v) for k, v in isvc["spec"]["predictor"].items() if k not in COMPONENT_FIELDS}
    pod.setdefault("volumes", []).append({"name": "kserve-provision-location", "emptyDir": {}})
    return pod


def transformer_pod_spec(isvc: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in isvc["spec"]["transformer"].items() if k not in COMPONENT_FIELDS}


def service_ports(container: dict[str, Any]) -> tuple[ServicePort, ...]:
    """Port 80 to the first declared container port (8080 without one); the others one to one."""
    numbers = [int(port["containerPort"]) for port in container.get("ports") or []]
    if not numbers:
        return (ServicePort(SERVICE_PORT, DEFAULT_HTTP_PORT),)
    return (ServicePort(SERVICE_PORT, numbers[0]), *(ServicePort(n, n) for n in numbers[1:]))


def models_mount(plan_mounts: list[Mount]) -> list[Mount]:
    """The emptyDir at /mnt/models is the storage initializer's: mark it so it gets the model files."""
    return [Mount(m.path, "models", True, name=m.name) if m.path == MODEL_MOUNT else m for m in plan_mounts]


def _merge_list(base: list[dict[str, Any]], patch: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Strategic merge of a keyed list: patch entries replace base entries with the same key."""
    merged = {item[key]: copy.deepcopy(item) for item in base}
    for item in patch:
        merged[item[key]] = {**merged.get(item[key], {}), **copy.deepcopy(item)}
    return list(merged.values())
