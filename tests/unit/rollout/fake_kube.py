"""FakeKubectlRecorder: stands in for a Kubernetes API server, because none can run here.

No kube-apiserver, kind node image, k3s or envtest is available from this machine's
registries, so the k8s rollout driver's command sequence is checked against this recorder. It
does what matters of the real thing for a rollout, and records every call in order:

- keeps InferenceServices: ``apply`` validates them against the upstream KServe CRD schema
  (what the API server refuses, it refuses) and plays KServe's controller by reporting
  ``Ready=True`` after ``ready_after`` reads (never, for names in ``never_ready``);
- keeps the rollouts ConfigMap: merge patches guarded by ``metadata.resourceVersion`` (a stale
  one is a conflict), and plays the kubelet by writing its ``rollouts.json`` into every
  gateway pod's mounted file;
- runs the gateway pods: each is the *real* gateway app (``serving.gateway.create_app``) in
  read-only mode, following its mounted file, with the chart's keyless metrics port; ``raw``
  reads that port's /metrics as the API server's pod proxy would. There is no cluster DNS, so
  the pods' proxy resolves the transformer Service names to a real echo upstream on loopback
  (``FakeTransformers``).
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from modelyard.errors import NotFoundError, UsageError
from modelyard.net import free_ports
from rollout import kserve
from rollout.kube import ISVC, ChartRelease, StaleObject
from serving.gateway import app as gateway_app
from serving.gateway.app import create_app
from serving.gateway.config import Upstream
from serving.gateway.proxy import UpstreamProxy
from serving.gateway.rollout.state import ROLLOUTS_FILE, dump_rollouts
from tests.unit.serving.echo_upstream import running_echo_upstream
from tests.unit.serving.gateway_harness import API_KEY, config_for

Object = dict[str, Any]


@dataclass
class FakeTransformers:
    """Stand-in for cluster DNS and the transformers behind it: every ``http://<name>.svc``
    resolves to one real echo upstream on loopback, except names in ``failing``, which resolve
    to a closed port (a broken candidate: every request fails)."""

    echo_url: str
    dead_url: str
    failing: set[str] = field(default_factory=set)
    hosts: list[str] = field(default_factory=list)

    def resolve(self, upstream: Upstream) -> Upstream:
        host = upstream.url.removeprefix("http://")
        assert host.endswith(".svc"), f"not a cluster Service: {upstream.url}"
        self.hosts.append(host)
        return upstream.model_copy(update={"url": self.dead_url if host in self.failing else self.echo_url})


@dataclass
class FakeKubectlRecorder:
    chart: ChartRelease
    crds: Any
    """A ``CrdRegistry``: applied objects are validated the way the API server does."""
    transformers: FakeTransformers
    ready_after: int = 2
    never_ready: set[str] = field(default_factory=set)
    isvcs: dict[str, Object] = field(default_factory=dict)
    configmap: Object = field(default_factory=dict)
    pods: dict[str, TestClient] = field(default_factory=dict)
    pod_files: dict[str, Path] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _reads: dict[str, int] = field(default_factory=dict)
    _sent: int = 0

    # --- KubeApi -----------------------------------------------------------------------

    def get(self, kind: str, name: str) -> Object:
        self.calls.append(("get", f"{kind}/{name}"))
        if kind == "configmap" and name == self.chart.rollouts_configmap:
            return copy.deepcopy(self.configmap)
        if kind != ISVC or name not in self.isvcs:
            raise NotFoundError(f'{kind}s "{name}" not found', hint="fake")
        self._reads[name] = self._reads.get(name, 0) + 1
        self._reconcile(name)
        return copy.deepcopy(self.isvcs[name])

    def apply(self, manifest: Object) -> Object:
        name = manifest["metadata"]["name"]
        self.calls.append(("apply", f"{ISVC}/{name}"))
        assert manifest["kind"] == "InferenceService" and "status" not in manifest
        assert "resourceVersion" not in manifest["metadata"]
        errors = list(self.crds.errors(manifest))
        if errors:
            raise UsageError(f"the API server would refuse {name}: {errors[:3]}")
        generation = self.isvcs.get(name, {}).get("metadata", {}).get("generation", 0) + 1
        stored = copy.deepcopy(manifest)
        stored["metadata"]["generation"] = generation
        self.isvcs[name] = stored
        self._reads[name] = 0
        return copy.deepcopy(stored)

    def patch(self, kind: str, name: str, patch: Object) -> Object:
        self.calls.append(("patch", f"{kind}/{name}"))
        assert (kind, name) == ("configmap", self.chart.rollouts_configmap)
        current = self.configmap["metadata"]["resourceVersion"]
        if patch.get("metadata", {}).get("resourceVersion") not in (None, current):
            raise StaleObject("Operation cannot be fulfilled: the object has been modified", hint="fake")
        self.configmap["data"] = {**self.configmap.get("data", {}), **patch.get("data", {})}
        self.configmap["metadata"]["resourceVersion"] = str(int(current) + 1)
        self._kubelet_sync()
        return copy.deepcopy(self.configmap)

    def delete(self, kind: str, name: str) -> None:
        self.calls.append(("delete", f"{kind}/{name}"))
        self.isvcs.pop(name, None)

    def running_pods(self, selector: str) -> list[str]:
        self.calls.append(("list", f"pods -l {selector}"))
        assert selector == self.chart.gateway_selector
        return sorted(self.pods)

    def raw(self, path: str) -> str:
        self.calls.append(("raw", path))
        pod = next(p for p in self.pods if path == self.chart.metrics_path(p))
        return httpx.get(f"http://127.0.0.1:{self.metrics_ports[pod]}/metrics", timeout=10).text

    # --- helpers for tests -------------------------------------------------------------

    def verbs(self) -> list[str]:
        """Calls that change something, in order."""
        return [f"{verb} {what}" for verb, what in self.calls if verb in ("apply", "patch", "delete")]

    def send(self, requests: int, model: str) -> None:
        """Callers' traffic, spread over the gateway pods, one user per request."""
        pods = sorted(self.pods)
        for _ in range(requests):
            self._sent += 1
            self.pods[pods[self._sent % len(pods)]].post(
                f"/v1/models/{model}:predict",
                json={"instances": [{"i": self._sent}]},
                headers={"x-user-id": f"user-{self._sent}"},
            )

    def _kubelet_sync(self) -> None:
        for path in self.pod_files.values():
            path.write_text(self.configmap["data"][ROLLOUTS_FILE])

    def _reconcile(self, name: str) -> None:
        obj = self.isvcs[name]
        ready = name not in self.never_ready and self._reads.get(name, 0) >= self.ready_after
        obj["status"] = {
            "observedGeneration": obj["metadata"].get("generation", 1),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }


@dataclass
class FakeRegistry:
    """Stands in for MLflow's registry: the aliases a rollout moves, nothing else."""

    aliases: dict[str, int] = field(default_factory=lambda: {"champion": 1})
    calls: list[str] = field(default_factory=list)

    def versions(self, model: str) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(version=v, aliases=[a for a, n in self.aliases.items() if n == v])
            for v in sorted(set(self.aliases.values()))
        ]

    def set_alias(self, model: str, alias: str, version: int) -> None:
        self.calls.append(f"set_alias {alias}={version}")
        self.aliases[alias] = version

    def promote(self, model: str) -> SimpleNamespace:
        self.calls.append("promote")
        self.aliases = {"champion": self.aliases.pop("challenger"), "previous": self.aliases["champion"]}
        return SimpleNamespace(after=dict(self.aliases))

    def rollback(self, model: str) -> SimpleNamespace:
        self.calls.append("rollback")
        self.aliases = {"champion": self.aliases["previous"], "challenger": self.aliases["champion"]}
        return SimpleNamespace(champion=self.aliases["champion"])


@contextmanager
def fake_cluster(
    isvcs: dict[str, Object],
    crds: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    gateway_pods: int = 2,
    poll_s: float = 0.02,
) -> Iterator[FakeKubectlRecorder]:
    """The chart's InferenceServices, its empty rollouts ConfigMap and ``gateway_pods`` real
    gateways in read-only mode, routing as the chart's gateway Deployment does."""
    chart = ChartRelease("modelyard", "modelyard")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    echo = running_echo_upstream()
    transformers = FakeTransformers(echo.__enter__()[0], dead_url)
    api = FakeKubectlRecorder(chart, crds, transformers, isvcs=copy.deepcopy(isvcs))
    api.configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": chart.rollouts_configmap, "resourceVersion": "1"},
        "data": {ROLLOUTS_FILE: dump_rollouts({})},
    }

    class InClusterProxy(UpstreamProxy):
        """The gateway's real proxy, with the cluster's Service names resolved to stand-ins."""

        async def forward(self, request: Any, record: Any, upstream: Upstream, *args: Any) -> Any:
            return await super().forward(request, record, transformers.resolve(upstream), *args)

    monkeypatch.setattr(gateway_app, "UpstreamProxy", InClusterProxy)
    routes = {
        model: [
            Upstream(url=kserve.transformer_url(model, chart.namespace), version=kserve.served_version(obj))
        ]
        for model, obj in isvcs.items()
    }
    with ExitStack() as stack:
        stack.push(echo)
        for i, metrics_port in enumerate(free_ports(gateway_pods)):
            pod = f"modelyard-gateway-{i}"
            mounted = tmp_path / pod / ROLLOUTS_FILE
            mounted.parent.mkdir()
            mounted.write_text(api.configmap["data"][ROLLOUTS_FILE])
            config = config_for(
                routes,
                rollouts_file=mounted,
                rollouts_readonly=True,
                rollouts_poll_s=poll_s,
                metrics_port=metrics_port,
            )
            client = stack.enter_context(TestClient(create_app(config), headers={"x-api-key": API_KEY}))
            api.pods[pod], api.pod_files[pod] = client, mounted
            api.metrics_ports[pod] = metrics_port
        yield api


def configmap_document(api: FakeKubectlRecorder) -> dict[str, Any]:
    return json.loads(api.configmap["data"][ROLLOUTS_FILE])
