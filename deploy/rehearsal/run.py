"""The whole rehearsal: render, plan, network, seed, start, probe, query, measure, report, clean up.

``Rehearsal`` is a context manager: leaving it (normally, on an error or on Ctrl-C) stops every
container, the Service relays and deletes the namespaces, the bridge and the scratch folder.
``trial`` starts one more pod (a changed copy of a rendered one) in the running rehearsal, so
tests can show what a broken chart would look like without a second rehearsal.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from modelyard.errors import UnavailableError, UsageError

from . import cgroups, kuberay
from .kubelet import Container, PodStatus, log_tail, ready_timeout, watch
from .manifests import CHART, KIND_VALUES, REHEARSAL_VALUES, REPO_ROOT, Rendered, render_chart
from .network import NETNS_ETC, PodNetwork, sweep_stale
from .podspec import Mount, PodPlan, memory_bytes, resolve_plan, service_links
from .proxy import ServiceProxy
from .queries import load_queries, send
from .report import Report, Row, mebibytes
from .runtime import PodmanRuntime, VenvRuntime
from .seed import create_buckets, download_store, missing_champions, smoke_train
from .workloads import Workloads, plan_workloads

SCRATCH_ROOT = REPO_ROOT / ".modelyard" / "rehearsal"
VENV_MODE = (
    "venv mode: processes run as root (the venv's interpreter lives under /root); "
    "--images runs them as the pods' runAsUser with a read-only root"
)
LOGS = SCRATCH_ROOT / "last-logs"
"""The pods' logs of the last run, kept after it (everything else is removed)."""
DEFAULT_SOURCE = REPO_ROOT / ".modelyard" / "rehearsal-source"
SERVED_MODELS = ("visual-search", "moderation", "ranking")
S3_PORT = 9000
S3_READY_TIMEOUT_S = 60.0
SEED_TIMEOUT_S = 600.0
IMAGES_TRITON_TAG_SUFFIX = "-pytriton"


@dataclass
class Options:
    images: bool = False
    """Run the pods from our images with podman (``make images-offline``) instead of the venv."""
    source: Path | None = None
    """State dir whose champions are copied into the chart's MLflow (default: smoke-trained once)."""
    set_values: list[str] = field(default_factory=list)
    chart: Path = CHART
    """The chart to rehearse (another checkout's, e.g. to see an older chart fail)."""
    release: str = "modelyard"
    namespace: str = "modelyard"


class Rehearsal:
    def __init__(self, options: Options | None = None, echo: Callable[[str], None] = print) -> None:
        self.options = options or Options()
        self.echo = echo
        self.report = Report()
        self.statuses: dict[str, PodStatus] = {}
        self.containers: dict[str, Container] = {}
        self.cgroups: dict[str, cgroups.PodCgroup] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closed = False

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> Rehearsal:
        if os.geteuid() != 0:
            raise UnavailableError(
                "the rehearsal needs root (network namespaces, veths, mounts)",
                hint="run it as root (CI does), e.g. sudo make k8s-rehearsal",
            )
        for run_id in sweep_stale():
            self.echo(f"removed what an earlier, killed rehearsal left behind (run {run_id})")
        self.network = PodNetwork().up()
        self.scratch = SCRATCH_ROOT / self.network.state.run_id
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.network.remember(self.scratch)
        if cgroups.available():
            self.network.remember(cgroups.MEMORY_ROOT / cgroups.PARENT / self.network.state.run_id)
        self.proxy = ServiceProxy()
        self.venv = VenvRuntime(self.scratch)
        self.podman = PodmanRuntime(self.scratch) if self.options.images else None
        self.podman_containers: list[str] = []
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        for container in self.containers.values():
            container.stop()
        if getattr(self, "podman", None) is not None:
            self.podman.remove(self.podman_containers)
        for thread in self._threads:
            thread.join(timeout=5)
        if hasattr(self, "proxy"):
            self.proxy.close()
        if hasattr(self, "scratch"):
            self._keep_logs()
        if hasattr(self, "network"):
            self.network.down()

    def _keep_logs(self) -> None:
        """Every pod's log into LOGS (replacing the previous run's): the scratch folder goes away."""
        shutil.rmtree(LOGS, ignore_errors=True)
        LOGS.mkdir(parents=True)
        for log in (self.scratch / "pods").glob("*/container.log"):
            shutil.copyfile(log, LOGS / f"{log.parent.name}.log")

    # --- the rehearsal ------------------------------------------------------------------

    def run(self) -> Report:
        self.prepare()
        self.seed()
        for plan in self.work.pods:
            if plan.component not in ("minio", "mlflow"):
                self.start(plan)
        for plan in self.work.pods:
            if plan.component not in ("minio", "mlflow"):
                self.wait(plan.name)
        self.query()
        self.measure()
        self.check_rayjobs()
        return self.report

    def prepare(self) -> None:
        """Render, plan the pods, give each its namespace and IP, resolve env, hosts and Services."""
        set_values = list(self.options.set_values)
        if self.options.images:
            set_values.append(f"images.triton.tag={self._app_version()}{IMAGES_TRITON_TAG_SUFFIX}")
        kind_values = self.options.chart / KIND_VALUES.name
        self.rendered: Rendered = render_chart(
            [kind_values, REHEARSAL_VALUES],
            set_values,
            self.options.release,
            self.options.namespace,
            chart=self.options.chart,
        )
        self.work: Workloads = plan_workloads(self.rendered)
        if self.podman is not None:
            self.podman.require([plan.image for plan in self.work.pods if not plan.stand_in])
            self._note("--images: every pod of the chart runs its image with podman; stand-ins from the venv")
        else:
            self._note(VENV_MODE)
        pods = [*self.work.pods, *([self.work.training_pod] if self.work.training_pod else [])]
        for plan in pods:
            self.network.add_pod(plan.name)
        self.service_ips = {s.name: self.network.ips[s.pod] for s in self.work.services}
        self.links = service_links(self.work.services, self.network.ips)
        self.secrets, self.configmaps = self.rendered.secret_data(), self.rendered.configmap_data()
        for plan in pods:
            resolve_plan(plan, self.secrets, self.configmaps, self.links)
        self.network.write_hosts(self.service_ips, self.options.namespace)
        for service in self.work.services:
            for port in service.ports:
                if port.port != port.target:
                    pod = service.pod
                    self.proxy.add(
                        self.network.namespaces[pod], self.network.ips[pod], port.port, port.target
                    )
        for plan in self.work.pods:
            if plan.stand_in:
                self.report.add(
                    Row(plan.name, self.network.ips[plan.name], passed=None, detail=plan.stand_in)
                )

    def seed(self) -> None:
        """The object store, its buckets, MLflow, and the served versions in both."""
        source = self._source()
        s3 = self.work.by_component("minio")
        if s3:
            self.start(s3[0])
            self._wait_port(s3[0].name, S3_PORT)
            key, secret = self._s3_credentials()
            create_buckets(self.work.buckets, f"http://{self.network.ips[s3[0].name]}:{S3_PORT}", key, secret)
        for plan in self.work.by_component("mlflow"):
            self.start(plan)
            self.wait(plan.name)
        training = self.work.training_pod
        if training is None:
            raise UsageError(
                "the chart renders no RayJob to take the training env from", hint="enable training"
            )
        training.command = [sys.executable, "-m", "deploy.rehearsal.seed", "--source", str(source)]
        training.args = [arg for model in SERVED_MODELS for arg in ("--model", model)]
        training.probes = []
        training.env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        started = time.monotonic()
        container = self._launch(training, workdir=str(REPO_ROOT), keep=[str(source)])
        try:
            code = container.process.wait(SEED_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            container.stop()
            code = None
        seconds = time.monotonic() - started
        lines = (
            container.log.read_text(errors="replace").strip().splitlines() if container.log.is_file() else []
        )
        if code != 0:
            self.report.add(Row("training stand-in: copy champions", self.network.ips[training.name],
                                passed=False, detail=f"exit {code}: {log_tail(container.log)}"))  # fmt: skip
            raise UnavailableError(
                "seeding the chart's MLflow and model store failed", hint=str(container.log)
            )
        copied = json.loads(lines[-1])
        versions = ", ".join(f"{m} v{c['version']} -> {c['storage_uri']}" for m, c in copied.items())
        self.report.add(
            Row("training stand-in: copy champions", self.network.ips[training.name], f"{seconds:.0f} s",
                passed=True, detail=f"registered in the chart's MLflow and published: {versions}")
        )  # fmt: skip

    def start(self, plan: PodPlan) -> PodStatus:
        """Materialise the pod's volumes (and /mnt/models), start its container and its kubelet loop.
        A stand-in without a command (Qdrant) only gets its address: nothing listens there."""
        pod_dir = self.scratch / "pods" / plan.name
        status = PodStatus(plan, self.network.ips[plan.name], pod_dir / "container.log")
        self.statuses[plan.name] = status
        if plan.stand_in and not plan.argv:
            status.ready_after = 0.0
            status.done.set()
            return status
        if plan.storage_uri:
            self._storage_initializer(plan)
        container = self._launch(plan)
        thread = threading.Thread(
            target=watch,
            args=(status, container, lambda: self._main_pid(plan.name), self._stop),
            name=f"kubelet-{plan.name}",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)
        return status

    def wait(self, name: str) -> PodStatus:
        status = self.statuses[name]
        status.done.wait(ready_timeout(status.plan) + 30)
        plan = status.plan
        if plan.stand_in:
            return status
        cgroup = self.cgroups.get(name)
        if status.failure and cgroup is not None and cgroup.oom_kills():
            status.failure += f" | OOMKilled: over its memory limit {mebibytes(plan.memory_limit)}"
        row = Row(
            check=f"pod {plan.name}",
            address=status.ip,
            ready=f"{status.ready_after:.0f} s" if status.ready_after is not None else "-",
            probes=status.probe_summary(),
            passed=status.ready,
            detail=status.failure or "",
        )
        self.report.add(row)
        return status

    def trial(self, plans: list[PodPlan]) -> list[PodStatus]:
        """Start ``plans`` (changed copies of rendered pods), each in its own namespace, all at once;
        wait for each one's verdict (Ready or failed), stop them and return their statuses."""
        plans = [copy.deepcopy(plan) for plan in plans]
        for plan in plans:
            self.network.add_pod(plan.name)
            resolve_plan(plan, self.secrets, self.configmaps, self.links)
        self.network.write_hosts(self.service_ips, self.options.namespace)
        statuses = [self.start(plan) for plan in plans]
        for status in statuses:
            status.done.wait(ready_timeout(status.plan) + 30)
            self.containers[status.plan.name].stop()
        return statuses

    # --- checks -------------------------------------------------------------------------

    def query(self) -> None:
        gateway = self.work.by_component("gateway")[0]
        service = next(s for s in self.work.services if s.pod == gateway.name)
        base = f"http://{self.service_ips[service.name]}:{service.ports[0].port}"
        api_key = gateway.env.get("MODELYARD_API_KEY", "")
        for query in load_queries():
            answer = send(base, api_key, query)
            self.report.add(
                Row(f"query {query.name}", f"{service.name}:{service.ports[0].port}",
                    passed=answer.passed, detail=answer.detail)
            )  # fmt: skip

    def measure(self) -> None:
        """Each pod's peak memory (its cgroup's) against the memory limit the cgroup enforced."""
        for row_index, row in enumerate(self.report.rows):
            name = row.check.removeprefix("pod ")
            cgroup = self.cgroups.get(name)
            if not row.check.startswith("pod ") or cgroup is None:
                continue
            limit = self.statuses[name].plan.memory_limit
            peak, killed = cgroup.peak(), cgroup.oom_kills()
            memory = f"{mebibytes(peak)}/{mebibytes(limit)}" if limit else mebibytes(peak)
            detail = row.detail
            if killed:
                detail = (detail + "; " if detail else "") + (
                    f"the kernel OOM-killed {killed} of its processes at the memory limit {mebibytes(limit)}"
                )
            self.report.rows[row_index] = Row(
                row.check, row.address, row.ready, row.probes, memory, row.passed and not killed, detail
            )

    def check_rayjobs(self) -> None:
        for rayjob in self.work.rayjobs:
            check = kuberay.check_submitter(rayjob)
            self.report.add(
                Row(f"rayjob {rayjob['metadata']['name']} submitter", passed=check.passed,
                    detail="KubeRay v1.7's bash -ce command: " + kuberay.describe(check))
            )  # fmt: skip

    # --- helpers ------------------------------------------------------------------------

    def _launch(self, plan: PodPlan, workdir: str = "/", keep: list[str] | None = None) -> Container:
        """Start the pod's container: from our image (``--images``; not the stand-ins, which are no
        image of ours) or as a venv process, in the pod's namespaces and memory cgroup."""
        pod_dir = self.scratch / "pods" / plan.name
        pod_dir.mkdir(parents=True, exist_ok=True)
        use_podman = self.podman is not None and not plan.stand_in and plan is not self.work.training_pod
        mounts = self._mounts(plan, pod_dir, host_mount_points=not use_podman)
        log = pod_dir / "container.log"
        cgroup = None
        if cgroups.available():
            cgroup = cgroups.PodCgroup(self.network.state.run_id, plan.name, plan.memory_limit)
            self.cgroups[plan.name] = cgroup
        netns = self.network.namespaces[plan.name]
        if use_podman:
            hosts = NETNS_ETC / netns / "hosts"
            launch = self.podman.launch_podman(plan, netns, hosts, mounts, netns, cgroup)
            self.podman_containers.append(netns)
            container = Container(launch.argv, launch.env, log, REPO_ROOT)
        else:
            launch = self.venv.launch(plan)
            for note in launch.notes:
                self._note(f"venv mode: {note}")
            spec = {
                "argv": launch.argv,
                "env": launch.env,
                "mounts": mounts,
                "keep": sorted({str(REPO_ROOT), sys.prefix, *(keep or [])}),
                "workdir": workdir,
            }
            spec_path = pod_dir / "podinit.json"
            spec_path.write_text(json.dumps(spec))
            argv = [
                "ip",
                "netns",
                "exec",
                netns,
                sys.executable,
                "-m",
                "deploy.rehearsal.podinit",
                str(spec_path),
            ]
            container = Container(
                argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, log, REPO_ROOT, cgroup
            )
        self.containers[plan.name] = container
        return container

    def _note(self, text: str) -> None:
        if not any(row.detail == text for row in self.report.rows):
            self.report.add(Row("rehearsal", passed=None, detail=text))

    def _mounts(self, plan: PodPlan, pod_dir: Path, host_mount_points: bool) -> list[dict]:
        specs = []
        for index, mount in enumerate(plan.mounts):
            if mount.kind == "memory":
                size = memory_bytes(mount.size)
                specs.append({"type": "tmpfs", "target": mount.path, "size": str(size) if size else None})
                continue
            source = self._volume_source(mount, pod_dir, index)
            specs.append(
                {"type": "bind", "source": str(source), "target": mount.path, "read_only": mount.read_only}
            )
            if host_mount_points:  # podman makes its own
                self._mount_point(Path(mount.path))
        return specs

    def _volume_source(self, mount: Mount, pod_dir: Path, index: int) -> Path:
        if mount.kind == "claim":
            source = self.scratch / "claims" / mount.name
        elif mount.kind == "models":
            source = pod_dir / "models"
        else:
            source = pod_dir / "volumes" / f"{index}-{mount.name or 'volume'}"
        source.mkdir(parents=True, exist_ok=True)
        source.chmod(0o1777 if mount.kind in ("emptyDir", "claim") else 0o755)
        for name, text in mount.files.items():
            (source / name).write_text(text)
        return source

    def _mount_point(self, path: Path) -> None:
        """Create a missing mount point on the host (removed at teardown)."""
        missing = path
        while not missing.parent.exists():
            missing = missing.parent
        if not path.exists():
            path.mkdir(parents=True)
            self.network.remember(missing)

    def _storage_initializer(self, plan: PodPlan) -> None:
        """KServe's storage initializer: ``storageUri`` into the pod's /mnt/models, with the S3
        endpoint and credentials its ServiceAccount names."""
        account = self.rendered.get("ServiceAccount", plan.service_account or "")
        annotations = account["metadata"].get("annotations") or {}
        endpoint = annotations.get("serving.kserve.io/s3-endpoint", "")
        scheme = "https" if annotations.get("serving.kserve.io/s3-usehttps") == "1" else "http"
        host, _, port = endpoint.partition(":")
        service = host.split(".")[0]
        if service not in self.service_ips:
            raise UsageError(
                f"the storage initializer's S3 endpoint {endpoint!r} is no Service of the chart",
                hint="fix serving.kserve.io/s3-endpoint on the storage ServiceAccount",
            )
        secret = self.secrets[account["secrets"][0]["name"]]
        target = self.scratch / "pods" / plan.name / "models"
        target.mkdir(parents=True, exist_ok=True)
        download_store(plan.storage_uri or "", target, f"{scheme}://{self.service_ips[service]}:{port or 80}",
                       secret["AWS_ACCESS_KEY_ID"], secret["AWS_SECRET_ACCESS_KEY"])  # fmt: skip

    def _s3_credentials(self) -> tuple[str, str]:
        minio = self.work.by_component("minio")[0]
        return minio.env.get("MINIO_ROOT_USER", ""), minio.env.get("MINIO_ROOT_PASSWORD", "")

    def _wait_port(self, pod: str, port: int) -> None:
        deadline = time.monotonic() + S3_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.network.ips[pod], port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise UnavailableError(
            f"{pod} did not listen on {port}: {log_tail(self.containers[pod].log)}", hint=""
        )

    def _main_pid(self, pod: str) -> int | None:
        pids = self.network.pids(pod)
        return pids[0] if pids else None

    def _source(self) -> Path:
        source = self.options.source or DEFAULT_SOURCE
        source.mkdir(parents=True, exist_ok=True)
        missing = missing_champions(source, list(SERVED_MODELS))
        if missing:
            self.echo(f"smoke-training {', '.join(missing)} into {source} once (a few minutes each)")
            smoke_train(source, missing, source / "smoke-train.log")
        return source

    def _app_version(self) -> str:
        return str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])
