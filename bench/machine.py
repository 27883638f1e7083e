"""What the numbers were measured on: CPU, cores, RAM, OS, Python, key package versions, commit.

Benchmarks on a shared 2-core machine mean little without this next to them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

KEY_PACKAGES = (
    "torch",
    "ray",
    "mlflow",
    "kserve",
    "tritonclient",
    "nvidia-pytriton",
    "qdrant-client",
    "qdrant-edge-py",
    "numpy",
    "fastapi",
    "uvicorn",
)
REPO = Path(__file__).resolve().parents[1]


def describe_machine() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(memory.total / 2**30, 1),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in KEY_PACKAGES},
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def load_average() -> list[float]:
    """1/5/15-minute load: how busy the shared machine was around a measurement."""
    return [round(value, 2) for value in os.getloadavg()]


def same_machine(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("cpu_model", "logical_cores", "ram_gib")
    return all(a.get(key) == b.get(key) for key in keys)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os_name() -> str:
    try:
        fields = dict(
            line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
        )
        return fields.get("PRETTY_NAME", "").strip('"') or platform.system()
    except OSError:
        return platform.platform()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()
