"""``yard rollout --target k8s``: the rollout driver's backend and candidate host on Kubernetes.

The split lives in the chart's ``<release>-rollouts`` ConfigMap (key ``rollouts.json``, the
document the local gateway writes); every gateway pod mounts it read-only and follows it.
A change is applied here exactly as the gateway applies one (``state.apply_spec``), written back
with a resourceVersion-guarded merge patch, and counts as done once every gateway pod reports
the new rollout on its /metrics (``modelyard_rollout_updated_at``), read through the API
server's pod proxy. A candidate is its own InferenceService ``<model>-v<version>`` (see
``kserve``). Everything goes through kubectl (kubeconfig as usual), and each change is
recorded as the command that does it by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from modelyard.errors import NotFoundError, UnavailableError, UsageError
from modelyard.registry.publish import storage_uri
from rollout import kserve
from rollout.kserve import Object
from serving.gateway.rollout.figures import Snapshot, applied_rollouts, merge_snapshots, parse_snapshot
from serving.gateway.rollout.state import (
    ROLLOUTS_FILE,
    Rollout,
    RolloutSpec,
    Variant,
    apply_spec,
    dump_rollouts,
    parse_rollouts,
)

REPO_KUBECTL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "kubectl"
KUBECTL_TIMEOUT_S = 60.0
POLL_S = 2.0
PROPAGATION_TIMEOUT_S = 180.0
"""kubelet refreshes mounted ConfigMaps on its sync period plus cache TTL (about a minute)."""
METRICS_PORT = 9090
"""The gateway pods' keyless metrics port (the chart sets MODELYARD_GATEWAY_METRICS_PORT to it):
``kubectl get --raw`` cannot send the admin key that /metrics on the API port needs."""
PUT_ATTEMPTS = 3
ISVC = "inferenceservice"


class StaleObject(UnavailableError):
    """The object changed since it was read (resourceVersion conflict)."""


class KubeApi(Protocol):
    """The calls a rollout needs from the Kubernetes API server, in one namespace."""

    def get(self, kind: str, name: str) -> Object: ...
    def apply(self, manifest: Object) -> Object: ...
    def patch(self, kind: str, name: str, patch: Object) -> Object: ...
    def delete(self, kind: str, name: str) -> None: ...
    def running_pods(self, selector: str) -> list[str]: ...
    def raw(self, path: str) -> str: ...


def find_kubectl() -> str:
    if os.access(REPO_KUBECTL, os.X_OK):
        return str(REPO_KUBECTL)
    found = shutil.which("kubectl")
    if found is None:
        raise UnavailableError(
            "kubectl not found", hint="make tools (installs .tools/bin/kubectl) or put it on PATH"
        )
    return found


class Kubectl:
    """``KubeApi`` through the kubectl binary."""

    def __init__(self, namespace: str, binary: str | None = None) -> None:
        self.namespace = namespace
        self.binary = binary or find_kubectl()

    def get(self, kind: str, name: str) -> Object:
        return json.loads(self._run("get", kind, name, "-o", "json"))

    def apply(self, manifest: Object) -> Object:
        return json.loads(self._run("apply", "-f", "-", "-o", "json", stdin=json.dumps(manifest)))

    def patch(self, kind: str, name: str, patch: Object) -> Object:
        body = json.dumps(patch, separators=(",", ":"))
        return json.loads(self._run("patch", kind, name, "--type", "merge", "-p", body, "-o", "json"))

    def delete(self, kind: str, name: str) -> None:
        self._run("delete", kind, name, "--ignore-not-found")

    def running_pods(self, selector: str) -> list[str]:
        pods = json.loads(self._run("get", "pods", "-l", selector, "-o", "json"))["items"]
        return [p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") == "Running"]

    def raw(self, path: str) -> str:
        return self._run("get", "--raw", path)

    def _run(self, *args: str, stdin: str | None = None) -> str:
        command = [self.binary, "-n", self.namespace, *args]
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S, check=False
        )
        if done.returncode == 0:
            return done.stdout
        error = done.stderr.strip()
        if "NotFound" in error:
            raise NotFoundError(error, hint=f"kubectl -n {self.namespace} get {args[1]}")
        if "Conflict" in error or "the object has been modified" in error:
            raise StaleObject(error, hint="another change landed meanwhile; run the command again")
        raise UnavailableError(
            f"kubectl {args[0]} failed: {error}", hint="check kubectl's context and access"
        )


@dataclass(frozen=True)
class ChartRelease:
    """Names the chart gives a release's objects (templates/_helpers.tpl ``modelyard.fullname``)."""

    namespace: str
    release: str = "modelyard"

    @property
    def fullname(self) -> str:
        return self.release if "modelyard" in self.release else f"{self.release}-modelyard"

    @property
    def rollouts_configmap(self) -> str:
        return f"{self.fullname}-rollouts"

    @property
    def gateway_selector(self) -> str:
        return (
            f"app.kubernetes.io/name=modelyard,app.kubernetes.io/instance={self.release},"
            "app.kubernetes.io/component=gateway"
        )

    def metrics_path(self, pod: str) -> str:
        """A gateway pod's /metrics through the API server's pod proxy."""
        return f"/api/v1/namespaces/{self.namespace}/pods/{pod}:{METRICS_PORT}/proxy/metrics"


class ConfigMapRollouts:
    """``RolloutBackend`` on Kubernetes: the rollouts ConfigMap and the gateway pods' /metrics."""

    def __init__(
        self,
        api: KubeApi,
        chart: ChartRelease,
        commands: list[str],
        sleep: Callable[[float], None] = time.sleep,
        propagation_timeout_s: float = PROPAGATION_TIMEOUT_S,
    ) -> None:
        self.api = api
        self.chart = chart
        self.commands = commands
        """The same changes by hand, appended as they happen."""
        self.sleep = sleep
        self.propagation_timeout_s = propagation_timeout_s

    def view(self, model: str) -> tuple[list[Variant], Rollout | None]:
        configured = self._configured(model)
        rollouts, _ = self._read()
        return [configured], _current(rollouts, model, configured)

    def put(self, model: str, spec: RolloutSpec) -> Rollout:
        for attempt in range(PUT_ATTEMPTS):
            configured = self._configured(model)
            rollouts, version = self._read()
            try:
                rollout = apply_spec(model, _current(rollouts, model, configured), spec, configured)
            except (ValueError, ValidationError) as exc:
                raise UsageError(f"refused: {exc}", hint="check the model, version and percent") from None
            data = {"data": {ROLLOUTS_FILE: dump_rollouts({**rollouts, model: rollout})}}
            try:
                # The resourceVersion makes the API server refuse the patch if anyone wrote since the read.
                self.api.patch(
                    "configmap",
                    self.chart.rollouts_configmap,
                    {"metadata": {"resourceVersion": version}, **data},
                )
            except StaleObject:
                if attempt == PUT_ATTEMPTS - 1:
                    raise
                continue
            self.commands.append(
                kserve.patch_configmap_command(self.chart.namespace, self.chart.rollouts_configmap, data)
            )
            self._wait_applied(model, rollout.updated_at)
            return rollout
        raise AssertionError("unreachable")

    def snapshot(self) -> Snapshot:
        return merge_snapshots(
            [parse_snapshot(self.api.raw(self.chart.metrics_path(pod))) for pod in self._gateway_pods()]
        )

    def _configured(self, model: str) -> Variant:
        """The chart's route for ``model``: its InferenceService's transformer, at its version."""
        isvc = self.api.get(ISVC, model)
        return Variant(
            url=kserve.transformer_url(model, self.chart.namespace), version=kserve.served_version(isvc)
        )

    def _read(self) -> tuple[dict[str, Rollout], str]:
        configmap = self.api.get("configmap", self.chart.rollouts_configmap)
        text = (configmap.get("data") or {}).get(ROLLOUTS_FILE, "")
        source = f"configmap/{self.chart.rollouts_configmap}"
        return parse_rollouts(text, source), configmap["metadata"]["resourceVersion"]

    def _gateway_pods(self) -> list[str]:
        pods = self.api.running_pods(self.chart.gateway_selector)
        if not pods:
            raise UnavailableError(
                f"no running gateway pod in {self.chart.namespace} ({self.chart.gateway_selector})",
                hint=f"kubectl -n {self.chart.namespace} get pods -l {self.chart.gateway_selector}; "
                "pass --release if the chart was installed under another name",
            )
        return pods

    def _wait_applied(self, model: str, updated_at: float) -> None:
        """Until every gateway pod routes by the rollout just written (kubelet syncs the volume)."""
        deadline = time.monotonic() + self.propagation_timeout_s
        while True:
            behind = [
                pod
                for pod in self._gateway_pods()
                if abs(
                    applied_rollouts(self.api.raw(self.chart.metrics_path(pod))).get(model, 0.0) - updated_at
                )
                > 1e-3
            ]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise UnavailableError(
                    f"the rollouts ConfigMap is written, but gateway pods {behind} have not applied it "
                    f"within {self.propagation_timeout_s:.0f} s",
                    hint=f"kubectl -n {self.chart.namespace} logs {behind[0]} "
                    "(look for rollouts_source_invalid); a restarted pod reads the ConfigMap afresh",
                )
            self.sleep(POLL_S)


def _current(rollouts: dict[str, Rollout], model: str, configured: Variant) -> Rollout | None:
    """The model's rollout, unless the chart's route changed since (the gateways drop it then)."""
    rollout = rollouts.get(model)
    return rollout if rollout is not None and rollout.base == configured else None


class KubeCandidates:
    """``CandidateHost`` on Kubernetes: one InferenceService per candidate version."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        model_store: str,
        index: Callable[[str, int], None],
        commands: list[str],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.model_store = model_store
        self.index = index
        """Builds the candidate's Qdrant collection (alias untouched) before its transformer starts."""
        self.commands = commands
        self.sleep = sleep

    def launch(self, model: str, version: int, keep: list[int]) -> str:
        self.index(model, version)
        stable = self.api.get(ISVC, model)
        manifest = kserve.candidate_isvc(stable, version, storage_uri(self.model_store, model, version))
        self.api.apply(manifest)
        self.commands.append(kserve.apply_command(self.namespace, manifest))
        return kserve.transformer_url(manifest["metadata"]["name"], self.namespace)

    def wait_ready(self, model: str, version: int, url: str, timeout_s: float) -> None:
        name = kserve.candidate_name(model, version)
        self.commands.append(kserve.wait_command(self.namespace, name, timeout_s))
        deadline = time.monotonic() + timeout_s
        while not kserve.is_ready(self.api.get(ISVC, name)):
            if time.monotonic() > deadline:
                raise UnavailableError(
                    f"InferenceService {name} was not Ready within {timeout_s:.0f} s; no traffic was moved",
                    hint=f"kubectl -n {self.namespace} describe isvc {name} (and its pods' logs); "
                    f"fix it and start again, or remove it: kubectl -n {self.namespace} delete isvc {name}",
                )
            self.sleep(POLL_S)

    def retire(self, model: str, version: int, keep: list[int]) -> None:
        """Delete the candidate InferenceService (never the chart's own ``<model>``)."""
        name = kserve.candidate_name(model, version)
        self.api.delete(ISVC, name)
        self.commands.append(kserve.delete_command(self.namespace, name))
