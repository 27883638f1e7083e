"""Pod networking without a cluster: one network namespace, veth and IP per pod on a bridge.

The bridge holds ``<subnet>.1`` in the host's namespace, so this process (the kubelet's seat)
reaches every pod IP; pods reach each other over the bridge. ``ip netns exec`` bind-mounts
``/etc/netns/<ns>/hosts`` over ``/etc/hosts``, which is how Service names
(``<svc>``, ``<svc>.<ns>``, ``<svc>.<ns>.svc``, ``<svc>.<ns>.svc.cluster.local``) resolve to pod IPs.

Everything made is listed in a state file under ``STATE_DIR`` first, so ``sweep_stale`` removes
what an earlier run that was killed (SIGKILL, power loss) left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from modelyard.errors import UnavailableError

from . import cgroups

STATE_DIR = Path("/run/modelyard-rehearsal")
NETNS_ETC = Path("/etc/netns")
PREFIX = "yr"
SUBNETS = range(200, 255)
"""Third octet candidates of 10.244.X.0/24 (kind's pod range), the first unused one is taken."""
FIRST_POD_HOST = 10


@dataclass
class NetworkState:
    """What one run created; written before each thing is made."""

    run_id: str
    owner_pid: int
    subnet: str
    bridge: str
    namespaces: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return STATE_DIR / f"{self.run_id}.json"

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, self.file)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise UnavailableError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}", hint="run as root")
    return proc


class PodNetwork:
    """The bridge and the pods' namespaces of one run."""

    def __init__(self) -> None:
        run_id = secrets.token_hex(2)
        octet = _free_subnet()
        self.state = NetworkState(run_id, os.getpid(), f"10.244.{octet}", f"{PREFIX}b{run_id}")
        self.ips: dict[str, str] = {}
        self.namespaces: dict[str, str] = {}

    @property
    def gateway_ip(self) -> str:
        return f"{self.state.subnet}.1"

    def up(self) -> PodNetwork:
        self.state.save()
        bridge = self.state.bridge
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway_ip}/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        return self

    def add_pod(self, pod: str) -> str:
        """A namespace for ``pod`` with its own IP on the bridge; returns the IP."""
        index = len(self.namespaces)
        netns = f"{PREFIX}{self.state.run_id}-{pod}"
        address = f"{self.state.subnet}.{FIRST_POD_HOST + index}"
        host_side, pod_side = f"{PREFIX}{self.state.run_id}h{index}", f"{PREFIX}{self.state.run_id}p{index}"
        self.state.namespaces.append(netns)
        self.state.save()
        ip("netns", "add", netns)
        ip("link", "add", host_side, "type", "veth", "peer", "name", pod_side)
        ip("link", "set", pod_side, "netns", netns)
        ip("link", "set", host_side, "master", self.state.bridge)
        ip("link", "set", host_side, "up")
        ip("-n", netns, "link", "set", pod_side, "name", "eth0")
        ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        ip("-n", netns, "route", "add", "default", "via", self.gateway_ip)
        self.ips[pod], self.namespaces[pod] = address, netns
        return address

    def write_hosts(self, names: dict[str, str], namespace: str) -> None:
        """Every pod's ``/etc/hosts``: itself, and each Service name -> the IP of the pod behind it."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for service, address in sorted(names.items()):
            aliases = [f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}.svc"]
            lines.append(f"{address}\t{' '.join([*aliases, f'{service}.{namespace}', service])}")
        for pod, netns in self.namespaces.items():
            folder = NETNS_ETC / netns
            self.state.paths.append(str(folder))
            self.state.save()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "hosts").write_text("\n".join([*lines, f"{self.ips[pod]}\t{pod}"]) + "\n")

    def pids(self, pod: str) -> list[int]:
        """Every process inside the pod's namespace."""
        listed = ip("netns", "pids", self.namespaces[pod], check=False).stdout.split()
        return [int(pid) for pid in listed]

    def remember(self, path: Path) -> None:
        """Remove ``path`` at teardown (also after a crash: it goes in the state file)."""
        self.state.paths.append(str(path))
        self.state.save()

    def down(self) -> None:
        teardown(self.state)


def teardown(state: NetworkState) -> None:
    """Kill every process in the run's namespaces, delete them, the bridge and the files."""
    for netns in state.namespaces:
        _kill_namespace(netns)
    for netns in state.namespaces:
        ip("netns", "delete", netns, check=False)
    ip("link", "delete", state.bridge, check=False)
    for path in reversed(state.paths):
        target = Path(path)
        if target.is_relative_to(cgroups.MEMORY_ROOT):
            cgroups.remove_tree(target)
        elif target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
    with contextlib.suppress(FileNotFoundError):
        state.file.unlink()


def sweep_stale() -> list[str]:
    """Tear down runs whose owner process is gone; returns their ids."""
    swept = []
    for file in sorted(STATE_DIR.glob("*.json")) if STATE_DIR.is_dir() else []:
        try:
            state = NetworkState(**json.loads(file.read_text()))
        except (ValueError, TypeError):
            file.unlink()
            continue
        if _alive(state.owner_pid):
            continue
        teardown(state)
        swept.append(state.run_id)
    return swept


def _kill_namespace(netns: str) -> None:
    pids = ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_subnet() -> int:
    used = ip("-4", "-o", "addr", "show").stdout
    for octet in SUBNETS:
        if f" 10.244.{octet}." not in used:
            return octet
    raise UnavailableError("no free 10.244.X.0/24 subnet for the rehearsal", hint="remove stale bridges")
