"""``yard rollout --target k8s``: drive an InferenceService's canary with kubectl.

Every change is a merge patch built by ``kserve`` (pure); this module only fetches the
object, applies patches, waits for KServe to report the canary ready, and hands back the
patches it applied so the CLI can print the equivalent ``kubectl patch`` commands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelyard.errors import NotFoundError, UnavailableError, UsageError
from modelyard.rollout import kserve
from modelyard.rollout.kserve import DeployMode, Object

REPO_KUBECTL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "kubectl"
KUBECTL_TIMEOUT_S = 60.0
READY_POLL_S = 2.0


class KubeApi(Protocol):
    """The two calls a rollout needs from the Kubernetes API server."""

    def get(self, name: str) -> Object: ...
    def patch(self, name: str, patch: Object) -> Object: ...


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
    """InferenceServices in one namespace, through the kubectl binary (kubeconfig as usual)."""

    def __init__(self, namespace: str, binary: str | None = None) -> None:
        self.namespace = namespace
        self.binary = binary or find_kubectl()

    def get(self, name: str) -> Object:
        return self._run("get", "inferenceservice", name, "-o", "json")

    def patch(self, name: str, patch: Object) -> Object:
        body = json.dumps(patch, separators=(",", ":"))
        return self._run("patch", "inferenceservice", name, "--type", "merge", "-p", body, "-o", "json")

    def _run(self, *args: str) -> Object:
        command = [self.binary, "-n", self.namespace, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S, check=False)
        if done.returncode != 0:
            error = done.stderr.strip()
            if "NotFound" in error:
                raise NotFoundError(error, hint=f"kubectl -n {self.namespace} get inferenceservices")
            raise UnavailableError(
                f"kubectl {args[0]} failed: {error}", hint="check kubectl's context and access"
            )
        return json.loads(done.stdout)


@dataclass
class KubeChange:
    """What one command did: the patches applied, in order, and the object afterwards."""

    name: str
    namespace: str
    patches: list[Object] = field(default_factory=list)
    isvc: Object = field(default_factory=dict)

    def kubectl_commands(self) -> list[str]:
        return [kserve.kubectl_patch_command(self.name, self.namespace, patch) for patch in self.patches]


class KubeRollouts:
    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        model_store: str,
        mode: DeployMode | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.model_store = model_store
        self.mode_override = mode
        self.sleep = sleep

    def mode_of(self, isvc: Object) -> DeployMode:
        return kserve.deploy_mode(isvc, self.mode_override)

    def start(self, model: str, version: int, percent: int, ready_timeout_s: float) -> KubeChange:
        """Deploy the candidate with 0 % of traffic, wait until KServe says it is ready, then shift."""
        isvc = self.api.get(model)
        mode = self.mode_of(isvc)
        if kserve.traffic_status(isvc, mode).canary_version:
            raise UsageError(
                f"{model} already has a canary", hint="yard rollout rollback or promote it first"
            )
        uri = kserve.storage_uri(self.model_store, model, version)
        change = KubeChange(model, self.namespace)
        self._apply(change, kserve.start_patch(isvc, mode, version, uri, 0))
        self.wait_ready(model, mode, ready_timeout_s)
        if percent:
            self._apply(change, kserve.percent_patch(self.api.get(model), mode, percent))
        return change

    def set_percent(self, model: str, percent: int) -> KubeChange:
        isvc = self.api.get(model)
        change = KubeChange(model, self.namespace)
        self._apply(change, kserve.percent_patch(isvc, self.mode_of(isvc), percent))
        return change

    def promote(self, model: str) -> KubeChange:
        isvc = self.api.get(model)
        change = KubeChange(model, self.namespace)
        self._apply(change, kserve.promote_patch(isvc, self.mode_of(isvc)))
        return change

    def rollback(self, model: str, reason: str) -> KubeChange:
        isvc = self.api.get(model)
        change = KubeChange(model, self.namespace)
        for patch in kserve.rollback_patches(isvc, self.mode_of(isvc), reason):
            self._apply(change, patch)
        return change

    def restore(self, model: str, version: int) -> KubeChange:
        """After a promote there is no canary left: point the predictor back at ``version``."""
        uri = kserve.storage_uri(self.model_store, model, version)
        change = KubeChange(model, self.namespace)
        self._apply(change, {"spec": {"predictor": {"model": {"storageUri": uri}}}})
        return change

    def status(self, model: str) -> dict[str, Any]:
        isvc = self.api.get(model)
        mode = self.mode_of(isvc)
        traffic = kserve.traffic_status(isvc, mode)
        return {
            "model": model,
            "namespace": self.namespace,
            "mode": mode,
            "stable_storage_uri": isvc["spec"]["predictor"]["model"]["storageUri"],
            "canary_version": traffic.canary_version,
            "canary_ready": traffic.canary_ready,
            "canary_percent": traffic.canary_percent,
            "traffic": traffic.traffic,
        }

    def wait_ready(self, model: str, mode: DeployMode, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not kserve.traffic_status(self.api.get(model), mode).canary_ready:
            if time.monotonic() > deadline:
                raise UnavailableError(
                    f"the canary of {model} was not ready within {timeout_s:.0f} s; it has 0 % of traffic",
                    hint=f"kubectl -n {self.namespace} describe isvc {model}; then yard rollout rollback",
                )
            self.sleep(READY_POLL_S)

    def _apply(self, change: KubeChange, patch: Object) -> None:
        change.isvc = self.api.patch(change.name, patch)
        change.patches.append(patch)
