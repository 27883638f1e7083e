"""The kubelet's part: start a pod's container, run its probes as declared, watch it, measure it.

Probes run from this process (outside the pod, as the kubelet does) against ``<pod IP>:<port>``:
the startup probe first, then liveness and readiness, each after its ``initialDelaySeconds`` and
every ``periodSeconds``, with ``timeoutSeconds`` and ``failureThreshold``. A pod fails when its
container exits, when a startup or liveness probe fails ``failureThreshold`` times in a row (the
kubelet would kill it) or when it is not Ready in time (``ready_timeout``). Every failure names
the pod, the probe and what answered; when nothing answered, the pod's listening sockets say
why (a server bound to 127.0.0.1 only is reported as such, at once: no probe can ever reach it).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .cgroups import PodCgroup
from .podspec import PodPlan, Probe

TICK_S = 0.2
READY_WAIT_S = 240.0
LOG_TAIL_LINES = 12
STOP_GRACE_S = 10.0
LOOPBACK_VERDICT_FAILURES = 2
_LISTEN = "0A"


@dataclass
class ProbeRecord:
    ok: int = 0
    failed: int = 0
    consecutive_failures: int = 0
    last: str = ""

    def note(self, success: bool, answer: str) -> None:
        self.last = answer
        if success:
            self.ok += 1
            self.consecutive_failures = 0
        else:
            self.failed += 1
            self.consecutive_failures += 1


@dataclass
class PodStatus:
    plan: PodPlan
    ip: str
    log: Path
    started: float = field(default_factory=time.monotonic)
    ready_after: float | None = None
    failure: str | None = None
    probes: dict[str, ProbeRecord] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def ready(self) -> bool:
        return self.ready_after is not None and self.failure is None

    def probe_summary(self) -> str:
        if not self.probes:
            return "none declared"
        return ", ".join(f"{kind} {r.ok}/{r.ok + r.failed}" for kind, r in self.probes.items())


def http_probe(ip: str, probe: Probe) -> tuple[bool, str]:
    """One httpGet probe: 200-399 is success. Returns (success, what answered)."""
    if probe.scheme.upper() != "HTTP":
        return False, f"scheme {probe.scheme} is not rehearsed"
    connection = http.client.HTTPConnection(ip, probe.port, timeout=probe.timeout_s)
    try:
        connection.request("GET", probe.path, headers={"User-Agent": "kube-probe/1.33 (rehearsal)"})
        response = connection.getresponse()
        body = response.read(200).decode(errors="replace").strip()
        answer = f"HTTP {response.status}" + (f" {body}" if body else "")
        return 200 <= response.status < 400, answer
    except ConnectionRefusedError:
        return False, "connection refused"
    except TimeoutError:
        return False, f"no answer within timeoutSeconds={probe.timeout_s:g}"
    except OSError as error:
        return False, f"{type(error).__name__}: {error}"
    finally:
        connection.close()


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets listening in ``pid``'s network namespace."""
    found = []
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] != _LISTEN:
                    continue
                address, port = fields[1].split(":")
                found.append((_address(address), int(port, 16)))
    return found


def _address(hexed: str) -> str:
    if len(hexed) == 8:
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hexed)[::-1])
    raw = b"".join(bytes.fromhex(hexed[i : i + 8])[::-1] for i in range(0, 32, 8))
    return socket.inet_ntop(socket.AF_INET6, raw)


def diagnose(pid: int | None, ip: str, port: int) -> tuple[str, bool]:
    """Why nothing answered on ``ip:port``: (explanation, whether it can never change)."""
    if pid is None:
        return "", False
    sockets = listening(pid)
    on_port = sorted({address for address, number in sockets if number == port})
    if on_port and all(address in ("127.0.0.1", "::1") for address in on_port):
        return (
            f"the process listens on {', '.join(on_port)}:{port} only, not on the pod IP {ip}: "
            "nothing outside the pod can reach it (the chart sets its bind address from `bindHost`)",
            True,
        )
    if not on_port and sockets:
        ports = ", ".join(sorted({str(number) for _, number in sockets}))
        return f"nothing listens on port {port}; the pod listens on {ports}", False
    return "", False


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace").strip().splitlines()
    return " | ".join(line.strip()[:300] for line in text[-lines:])


class Container:
    """One running container process (podinit -> the container's argv, or podman run)."""

    def __init__(
        self, argv: list[str], env: dict[str, str], log: Path, cwd: Path, cgroup: PodCgroup | None = None
    ) -> None:
        self.log = log

        def join_cgroup() -> None:  # in the child, before exec: everything it starts stays inside
            if cgroup is not None:
                cgroup.procs.write_text(str(os.getpid()))

        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=join_cgroup,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def watch(
    status: PodStatus,
    container: Container | None,
    main_pid: Callable[[], int | None],
    stop: threading.Event,
) -> None:
    """The kubelet's loop for one pod (run in a thread until ``stop`` or a verdict)."""
    plan = status.plan
    by_kind = {probe.kind: probe for probe in plan.probes}
    status.probes = {kind: ProbeRecord() for kind in by_kind}
    started_ok = "startup" not in by_kind
    due = {kind: status.started + probe.initial_delay_s for kind, probe in by_kind.items()}
    deadline = status.started + ready_timeout(plan)
    try:
        while not stop.is_set() and status.failure is None:
            now = time.monotonic()
            if container is not None and (code := container.exit_code()) is not None:
                status.failure = _exited(status, code)
                break
            if not by_kind and status.ready_after is None:
                status.ready_after = now - status.started
                status.done.set()
            for kind in ("startup", "liveness", "readiness"):
                probe = by_kind.get(kind)
                if probe is None or now < due[kind] or (kind != "startup" and not started_ok):
                    continue
                if kind == "startup" and started_ok:
                    continue
                due[kind] = now + probe.period_s
                success, answer = http_probe(status.ip, probe)
                record = status.probes[kind]
                if not success:
                    why, final = diagnose(main_pid(), status.ip, probe.port)
                    answer = f"{answer}; {why}" if why else answer
                    if final and record.consecutive_failures + 1 >= LOOPBACK_VERDICT_FAILURES:
                        record.note(False, answer)
                        status.failure = _probe_failure(status, probe, record)
                        break
                record.note(success, answer)
                if kind == "startup" and success:
                    started_ok = True
                    for other in ("liveness", "readiness"):
                        if other in by_kind:
                            due[other] = max(due[other], now)
                elif kind == "readiness" and success and status.ready_after is None:
                    status.ready_after = now - status.started
                    status.done.set()
                elif (
                    kind in ("startup", "liveness") and record.consecutive_failures >= probe.failure_threshold
                ):
                    status.failure = _probe_failure(status, probe, record)
                    break
            if status.failure is None and status.ready_after is None and now > deadline:
                status.failure = _not_ready(status)
            time.sleep(TICK_S)
    finally:
        status.done.set()


def ready_timeout(plan: PodPlan) -> float:
    """How long the rehearsal waits for this pod to become Ready. The kubelet never gives up on
    readiness (a pod whose upstreams are not ready yet just stays out of its Service), so this is the
    startup probe's window plus at least READY_WAIT_S; startup and liveness failures, and exits, end
    the wait sooner."""
    by_kind = {probe.kind: probe for probe in plan.probes}
    startup = by_kind["startup"].window_s if "startup" in by_kind else 0.0
    after = max((by_kind[k].window_s for k in ("liveness", "readiness") if k in by_kind), default=0.0)
    return startup + max(after, READY_WAIT_S)


def _exited(status: PodStatus, code: int) -> str:
    when = "after it was Ready" if status.ready_after is not None else "before it was Ready"
    return (
        f"{status.plan.name}: the container exited with code {code} {when} "
        f"(the kubelet would restart it: CrashLoopBackOff); its log: {log_tail(status.log)}"
    )


def _probe_failure(status: PodStatus, probe: Probe, record: ProbeRecord) -> str:
    action = "kills and restarts the container" if probe.kind != "readiness" else "keeps it out of Service"
    return (
        f"{status.plan.name}: {probe.describe()} on {status.ip} failed {record.consecutive_failures} times "
        f"in a row (the kubelet {action}); it answered: {record.last}"
    )


def _not_ready(status: PodStatus) -> str:
    waited = time.monotonic() - status.started
    last = "; ".join(
        f"{kind}Probe last answered: {r.last or 'not run yet'}" for kind, r in status.probes.items()
    )
    return f"{status.plan.name}: not Ready after {waited:.0f} s ({last}); its log: {log_tail(status.log, 4)}"
