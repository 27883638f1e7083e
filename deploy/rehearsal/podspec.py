"""What the kubelet makes of a pod spec: environment, probes, volumes, identity, memory limit.

Kubernetes' own rules, for the fields the chart uses: ``env`` entries in order with ``$(VAR)``
expanded from the ones before (and from service links), ``secretKeyRef``/``configMapKeyRef``
read from the rendered objects, service links (``<SVC>_SERVICE_HOST``, ``<SVC>_PORT``, ...) for
every Service of the namespace unless ``enableServiceLinks: false``, ``$(VAR)`` in command and
args, named probe ports, ``emptyDir``/``configMap``/claim volumes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import UsageError

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_QUANTITY = re.compile(r"^([0-9.]+)([A-Za-z]*)$")
_UNITS = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip
PROBE_KINDS = ("startup", "liveness", "readiness")


@dataclass(frozen=True)
class Probe:
    """One declared probe, with Kubernetes' defaults filled in."""

    kind: str
    path: str
    port: int
    scheme: str = "HTTP"
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    failure_threshold: int = 3

    @property
    def window_s(self) -> float:
        """How long the kubelet lets this probe fail before it acts."""
        return self.initial_delay_s + self.period_s * self.failure_threshold

    def describe(self) -> str:
        return f"{self.kind}Probe GET {self.scheme.lower()}://:{self.port}{self.path}"


@dataclass(frozen=True)
class Mount:
    """A volume as the container sees it; ``kind`` is how the rehearsal materialises it."""

    path: str
    kind: str  # emptyDir | memory | configMap | claim | models
    read_only: bool = False
    size: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True)
class ServicePort:
    port: int
    target: int


@dataclass(frozen=True)
class Service:
    """A Service and the one pod behind it (the rehearsal runs one replica of everything)."""

    name: str
    pod: str
    ports: tuple[ServicePort, ...]
    port_names: tuple[str, ...] = ()
    headless: bool = False


@dataclass
class PodPlan:
    """One pod to run: its single container, resolved as the kubelet would start it."""

    name: str
    component: str
    origin: str
    image: str
    command: list[str]
    args: list[str]
    env: dict[str, str]
    ports: dict[str, int]
    probes: list[Probe]
    mounts: list[Mount]
    run_as_user: int | None = None
    fs_group: int | None = None
    read_only_root: bool = False
    memory_limit: int | None = None
    storage_uri: str | None = None
    stand_in: str | None = None
    notes: list[str] = field(default_factory=list)
    env_entries: list[dict[str, Any]] = field(default_factory=list)
    """The container's ``env`` as written; ``env`` is filled from it by ``resolve_plan``."""
    enable_service_links: bool = True
    service_account: str | None = None

    @property
    def argv(self) -> list[str]:
        return [*self.command, *self.args]


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: unknown references stay as written, ``$$`` escapes."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR.sub(replace, text)


def resolve_env(
    entries: list[dict[str, Any]],
    secrets: dict[str, dict[str, str]],
    configmaps: dict[str, dict[str, str]],
    links: dict[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment: service links first, then ``env`` in order (later wins)."""
    env = dict(links or {})
    for entry in entries:
        name = entry["name"]
        if "value" in entry:
            env[name] = expand(str(entry["value"]), env)
            continue
        source = entry.get("valueFrom") or {}
        if "secretKeyRef" in source:
            env[name] = _lookup(secrets, source["secretKeyRef"], "Secret")
        elif "configMapKeyRef" in source:
            env[name] = _lookup(configmaps, source["configMapKeyRef"], "ConfigMap")
        else:
            raise UsageError(
                f"env {name}: valueFrom {sorted(source)} is not rehearsed", hint="extend podspec"
            )
    return env


def _lookup(objects: dict[str, dict[str, str]], ref: dict[str, Any], kind: str) -> str:
    data = objects.get(ref["name"])
    if data is None or ref["key"] not in data:
        raise UsageError(
            f"{kind} {ref['name']} key {ref['key']} is not in the rendered chart",
            hint="the pod would not start (CreateContainerConfigError): create it or fix the reference",
        )
    return data[ref["key"]]


def service_links(services: list[Service], ips: dict[str, str]) -> dict[str, str]:
    """The variables the kubelet adds for every Service with a cluster IP (enableServiceLinks)."""
    env: dict[str, str] = {}
    for service in services:
        if service.headless or not service.ports:
            continue
        prefix = service.name.upper().replace("-", "_")
        ip = ips[service.pod]
        first = service.ports[0].port
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(first)
        env[f"{prefix}_PORT"] = f"tcp://{ip}:{first}"
        for index, port in enumerate(service.ports):
            if index < len(service.port_names) and service.port_names[index]:
                env[f"{prefix}_SERVICE_PORT_{service.port_names[index].upper().replace('-', '_')}"] = str(
                    port.port
                )
            base = f"{prefix}_PORT_{port.port}_TCP"
            env[base] = f"tcp://{ip}:{port.port}"
            env[f"{base}_PROTO"] = "tcp"
            env[f"{base}_PORT"] = str(port.port)
            env[f"{base}_ADDR"] = ip
    return env


def named_ports(container: dict[str, Any]) -> dict[str, int]:
    """Container port names -> numbers (every port also under its own number)."""
    found: dict[str, int] = {}
    for port in container.get("ports") or []:
        number = int(port["containerPort"])
        found[str(number)] = number
        if port.get("name"):
            found[port["name"]] = number
    return found


def port_number(port: int | str, ports: dict[str, int], where: str) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    if port not in ports:
        raise UsageError(f"{where} names port {port!r}, which the container does not declare", hint="fix it")
    return ports[port]


def probes_of(container: dict[str, Any], ports: dict[str, int], where: str) -> list[Probe]:
    found = []
    for kind in PROBE_KINDS:
        spec = container.get(f"{kind}Probe")
        if not spec:
            continue
        get = spec.get("httpGet")
        if get is None:
            raise UsageError(
                f"{where}: {kind}Probe is not httpGet", hint="the rehearsal runs httpGet probes only"
            )
        found.append(
            Probe(
                kind=kind,
                path=get.get("path", "/"),
                port=port_number(get["port"], ports, f"{where} {kind}Probe"),
                scheme=get.get("scheme", "HTTP"),
                initial_delay_s=float(spec.get("initialDelaySeconds", 0)),
                period_s=float(spec.get("periodSeconds", 10)),
                timeout_s=float(spec.get("timeoutSeconds", 1)),
                failure_threshold=int(spec.get("failureThreshold", 3)),
            )
        )
    return found


def mounts_of(
    pod_spec: dict[str, Any], container: dict[str, Any], configmaps: dict[str, dict[str, str]]
) -> list[Mount]:
    """The container's volume mounts, each with how its volume is backed."""
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise UsageError(f"volumeMount {mount['name']} has no volume", hint="the pod would be rejected")
        read_only = bool(mount.get("readOnly", False))
        if "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            kind = "memory" if empty.get("medium") == "Memory" else "emptyDir"
            mounts.append(
                Mount(mount["mountPath"], kind, read_only, empty.get("sizeLimit"), name=mount["name"])
            )
        elif "configMap" in volume:
            files = configmaps.get(volume["configMap"]["name"])
            if files is None:
                raise UsageError(
                    f"ConfigMap {volume['configMap']['name']} is not rendered", hint="fix the chart"
                )
            mounts.append(Mount(mount["mountPath"], "configMap", True, files=dict(files), name=mount["name"]))
        elif "persistentVolumeClaim" in volume:
            mounts.append(
                Mount(
                    mount["mountPath"], "claim", read_only, name=volume["persistentVolumeClaim"]["claimName"]
                )
            )
        else:
            raise UsageError(
                f"volume {mount['name']} kind {sorted(volume)} is not rehearsed", hint="extend podspec"
            )
    return mounts


def memory_bytes(quantity: str | int | None) -> int | None:
    """A Kubernetes quantity (``1536Mi``, ``1Gi``, ``512M``) in bytes."""
    if quantity is None:
        return None
    match = _QUANTITY.match(str(quantity))
    if match is None or match.group(2) not in _UNITS:
        raise UsageError(f"memory quantity {quantity!r} is not understood", hint="use e.g. 512Mi or 1Gi")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def container_plan(
    name: str,
    component: str,
    origin: str,
    pod_spec: dict[str, Any],
    container: dict[str, Any],
    configmaps: dict[str, dict[str, str]],
) -> PodPlan:
    """A PodPlan from a pod spec and its (already controller-completed) container. Its environment
    and ``$(VAR)`` references are resolved once Service addresses are known (``resolve_plan``)."""
    ports = named_ports(container)
    security = pod_spec.get("securityContext") or {}
    container_security = container.get("securityContext") or {}
    limits = (container.get("resources") or {}).get("limits") or {}
    return PodPlan(
        name=name,
        component=component,
        origin=origin,
        image=container["image"],
        command=list(container.get("command") or []),
        args=[str(arg) for arg in container.get("args") or []],
        env={},
        ports=ports,
        probes=probes_of(container, ports, origin),
        mounts=mounts_of(pod_spec, container, configmaps),
        run_as_user=container_security.get("runAsUser", security.get("runAsUser")),
        fs_group=security.get("fsGroup"),
        read_only_root=bool(container_security.get("readOnlyRootFilesystem", False)),
        memory_limit=memory_bytes(limits.get("memory")),
        env_entries=list(container.get("env") or []),
        enable_service_links=pod_spec.get("enableServiceLinks", True) is not False,
        service_account=pod_spec.get("serviceAccountName"),
    )


def resolve_plan(
    plan: PodPlan,
    secrets: dict[str, dict[str, str]],
    configmaps: dict[str, dict[str, str]],
    links: dict[str, str],
) -> None:
    """Fill ``plan.env`` and expand ``$(VAR)`` in its command and args, as the kubelet does at start."""
    plan.env = resolve_env(plan.env_entries, secrets, configmaps, links if plan.enable_service_links else {})
    plan.command = [expand(part, plan.env) for part in plan.command]
    plan.args = [expand(part, plan.env) for part in plan.args]
