"""A pod's memory limit, enforced by the kernel as in a cluster: one memory cgroup per pod.

The container's ``resources.limits.memory`` becomes the cgroup's ``memory.limit_in_bytes`` (cgroup
v1, as on this machine), so a pod that outgrows it is OOM-killed by the kernel just as the kubelet's
cgroup would have it killed, and its peak use is read back for the table. Venv mode: the launcher
joins the cgroup before it execs ``ip netns exec`` (which hides /sys/fs/cgroup); podman mode: the
container's cgroup is created under it (``--cgroup-parent``). Page cache of files other processes
had already read is charged to them, not to the pod, so the peak counts anonymous memory fully and
shared files less than a node would.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
PARENT = "modelyard-rehearsal"


def available() -> bool:
    return (MEMORY_ROOT / "memory.limit_in_bytes").is_file() and os.access(MEMORY_ROOT, os.W_OK)


class PodCgroup:
    """``/sys/fs/cgroup/memory/modelyard-rehearsal/<run>/<pod>`` with the pod's memory limit."""

    def __init__(self, run_id: str, pod: str, limit: int | None) -> None:
        self.relative = f"/{PARENT}/{run_id}/{pod}"
        self.path = MEMORY_ROOT / self.relative.lstrip("/")
        self.path.mkdir(parents=True, exist_ok=True)
        if limit is not None:
            (self.path / "memory.limit_in_bytes").write_text(str(limit))

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def peak(self) -> int:
        return int((self.path / "memory.max_usage_in_bytes").read_text())

    def oom_kills(self) -> int:
        for line in (self.path / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0


def remove_tree(path: Path) -> None:
    """rmdir a cgroup folder and its children, deepest first (their processes must be gone)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()
