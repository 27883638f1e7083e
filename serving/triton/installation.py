"""Find a ``tritonserver`` binary and the environment its python backend needs.

Two installs are known: the binary inside the ``nvidia-pytriton`` wheel (local runs, CI)
and ``/opt/tritonserver`` of the official image (the cluster). The wheel's binary needs
three things to run plain model repositories, all verified on Debian 12 + pyenv 3.11.7:

* a backend folder holding ``libtriton_python.so`` plus the stub built for the running
  Python (the wheel keeps stubs apart, one per version); we build it from symlinks under
  the state dir and never touch site-packages;
* ``LD_LIBRARY_PATH`` starting with the interpreter's libdir (the stub links a system
  ``libpython3.11``; a different patch release breaks model init) and the wheel's libs;
* ``PATH`` starting with the interpreter's ``bin``: the stub's embedded Python ignores
  ``PYTHONPATH`` and derives ``sys.path`` from the first ``python3`` on ``PATH``, so this
  is what makes torch (the venv's site-packages) importable in ``model.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from modelyard.errors import UnavailableError

PYTHON_BACKEND_FILES = ("libtriton_python.so", "triton_python_backend_utils.py")
STUB_NAME = "triton_python_backend_stub"
OFFICIAL_IMAGE_ROOT = Path("/opt/tritonserver")


@dataclass(frozen=True)
class TritonInstallation:
    """A runnable ``tritonserver``; ``wheel_root`` is set only for the nvidia-pytriton wheel."""

    binary: Path
    backends: Path
    wheel_root: Path | None = None

    @property
    def python_stub(self) -> Path | None:
        """The wheel's stub for the running interpreter (None outside the wheel)."""
        if self.wheel_root is None:
            return None
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return self.wheel_root / "python_backend_stubs" / version / STUB_NAME


def find_installation() -> TritonInstallation:
    """The wheel's server first (matches this venv), else an official-image install on PATH."""
    spec = find_spec("pytriton")
    if spec is not None and spec.origin is not None:
        wheel_root = Path(spec.origin).parent / "tritonserver"
        binary = wheel_root / "bin" / "tritonserver"
        if binary.is_file():
            return TritonInstallation(binary, wheel_root / "backends", wheel_root)
    on_path = shutil.which("tritonserver") or shutil.which(OFFICIAL_IMAGE_ROOT / "bin" / "tritonserver")
    if on_path is not None:
        binary = Path(on_path).resolve()
        return TritonInstallation(binary, binary.parent.parent / "backends")
    raise UnavailableError(
        "no tritonserver binary found (neither the nvidia-pytriton wheel nor /opt/tritonserver)",
        hint="pip install nvidia-pytriton==0.7.0 (make install), or run in the nvcr.io tritonserver image",
    )


def prepare_backend_directory(installation: TritonInstallation, target: Path) -> Path:
    """The ``--backend-directory`` to use: for the wheel, ``target`` filled with symlinks."""
    stub = installation.python_stub
    if stub is None:
        return installation.backends
    if not stub.is_file():
        raise UnavailableError(
            f"the nvidia-pytriton wheel has no python backend stub for Python {sys.version_info[:2]}",
            hint="use a Python version listed in pytriton/tritonserver/python_backend_stubs",
        )
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    sources = [installation.backends / "python" / name for name in PYTHON_BACKEND_FILES] + [stub]
    for source in sources:
        link = python_dir / source.name
        if link.is_symlink() and link.resolve() == source.resolve():
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    return target


def server_environment(installation: TritonInstallation, base: dict[str, str]) -> dict[str, str]:
    """Environment for the server process; the official image needs nothing added."""
    env = dict(base)
    if installation.wheel_root is None:
        return env
    libs = [
        sysconfig.get_config_var("LIBDIR"),
        str(installation.wheel_root.parent.parent / "nvidia_pytriton.libs"),
    ]
    env["LD_LIBRARY_PATH"] = _prepend(libs, base.get("LD_LIBRARY_PATH"))
    env["PATH"] = _prepend([str(Path(sys.executable).parent)], base.get("PATH"))
    return env


def _prepend(first: list[str], rest: str | None) -> str:
    return os.pathsep.join([*first, *([rest] if rest else [])])
