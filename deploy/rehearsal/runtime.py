"""How a pod's container is started: from the repo's venv (default) or from our images (podman).

Venv mode runs the container's own argv with the repo's ``.venv`` standing in for the image: the
image's ``ENV`` lines (read from its Dockerfile's final stage) come first, the container's env on
top, and ``PATH`` starts with the venv's ``bin`` (the images install into ``/opt/venv``). One
mapping is made and said so: ``tritonserver`` (``/opt/tritonserver`` in the image) becomes the
nvidia-pytriton wheel's binary with ``--backend-directory`` and the library path it needs; every
rendered argument stays as it is. Processes run as root here: the venv's interpreter lives under
``/root``; ``--images`` runs them as the pod's ``runAsUser`` with a read-only root.

Podman mode (``--images``) runs the image the manifest names, with ``--network ns:`` joining the
pod's namespace, the same hosts file, volumes and environment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from modelyard.errors import UsageError

from .cgroups import PodCgroup
from .manifests import REPO_ROOT
from .podspec import PodPlan

DOCKER_DIR = REPO_ROOT / "docker"
VENV_BIN = Path(sys.executable).parent
IMAGE_VENV_BIN = "/opt/venv/bin"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TRITON_BINARY = "tritonserver"
CONTAINERS_CONF = "[containers]\ndefault_ulimits = []\n"
_ENV_REF = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def image_name(image: str) -> str:
    """``ghcr.io/modelyard/serving:0.1.0`` -> ``serving``."""
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


def dockerfile_env(dockerfile: Path) -> dict[str, str]:
    """The ``ENV`` of the Dockerfile's final stage, ``$VAR`` expanded as the builder would."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    for line in lines[last_from + 1 :]:
        if not line.upper().startswith("ENV "):
            continue
        words = shlex.split(line[4:])
        pairs = (
            [word.split("=", 1) for word in words] if "=" in words[0] else [[words[0], " ".join(words[1:])]]
        )
        for key, value in pairs:
            env[key] = _ENV_REF.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)
    return env


@dataclass(frozen=True)
class Launch:
    """What to run for one pod: argv and env for ``podinit`` (venv) or a full podman argv."""

    argv: list[str]
    env: dict[str, str]
    notes: tuple[str, ...] = ()


class VenvRuntime:
    """Containers as processes of the repo's venv, in the pod's namespaces."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def launch(self, plan: PodPlan) -> Launch:
        image_env = self._image_env(plan.image)
        env = {**image_env, **plan.env, "HOSTNAME": plan.name}
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', DEFAULT_PATH)}"
        argv = plan.argv or self._image_default(plan.image)
        notes: list[str] = []
        if argv and argv[0] == TRITON_BINARY:
            argv, env = self._triton(argv, env)
            notes.append(
                "tritonserver: the nvidia-pytriton wheel's binary (the image's /opt/tritonserver), "
                "--backend-directory and LD_LIBRARY_PATH added; the rendered args as they are"
            )
        return Launch(argv, env, tuple(notes))

    def _image_env(self, image: str) -> dict[str, str]:
        dockerfile = DOCKER_DIR / f"{image_name(image)}.Dockerfile"
        env = dockerfile_env(dockerfile) if dockerfile.is_file() else {"PATH": DEFAULT_PATH}
        env["PATH"] = env["PATH"].replace(IMAGE_VENV_BIN, str(VENV_BIN))
        return env

    def _image_default(self, image: str) -> list[str]:
        dockerfile = DOCKER_DIR / f"{image_name(image)}.Dockerfile"
        for line in reversed(dockerfile.read_text().splitlines() if dockerfile.is_file() else []):
            if line.startswith("CMD "):
                return json.loads(line[4:])
        return []

    def _triton(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        # lazy: loaded by the step that needs it: the rehearsal's other steps run without it
        from serving.triton.installation import (
            find_installation,
            prepare_backend_directory,
            server_environment,
        )

        installation = find_installation()
        backends = prepare_backend_directory(installation, self.scratch / "triton-backends")
        command = [str(installation.binary), *argv[1:], f"--backend-directory={backends}"]
        return command, server_environment(installation, env)


def podman_base(conf: Path) -> tuple[list[str], dict[str, str]]:
    """podman as it works on this machine: runc, cgroupfs, no default ulimits (see NOTES)."""
    if not conf.is_file():
        conf.write_text(CONTAINERS_CONF)
    return (
        ["podman", "--runtime", "/usr/sbin/runc", "--cgroup-manager=cgroupfs"],
        {**os.environ, "CONTAINERS_CONF": str(conf)},
    )


class PodmanRuntime:
    """Containers from our images, each joining its pod's network namespace and memory cgroup."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.base, self.env = podman_base(scratch / "containers.conf")

    def require(self, images: list[str]) -> None:
        missing = [image for image in sorted(set(images)) if not self._exists(image)]
        if missing:
            raise UsageError(
                f"podman has no image {', '.join(missing)}",
                hint="build them: make images-offline (or drop --images to run from the venv)",
            )

    def _exists(self, image: str) -> bool:
        return (
            subprocess.run([*self.base, "image", "exists", image], env=self.env, check=False).returncode == 0
        )

    def launch_podman(
        self,
        plan: PodPlan,
        netns: str,
        hosts: Path,
        mounts: list[dict],
        container: str,
        cgroup: PodCgroup | None,
    ) -> Launch:
        argv = [*self.base, "run", "--rm", "--name", container, f"--network=ns:/run/netns/{netns}"]
        argv += ["--no-hosts", "-v", f"{hosts}:/etc/hosts:ro", "--hostname", plan.name]
        if cgroup is not None:
            argv.append(f"--cgroup-parent={cgroup.relative}")
        if plan.memory_limit:
            argv.append(f"--memory={plan.memory_limit}")
        if plan.run_as_user is not None:
            argv += ["--user", f"{plan.run_as_user}:{plan.fs_group or plan.run_as_user}"]
        if plan.read_only_root:
            argv.append("--read-only")
        for mount in mounts:
            if mount["type"] == "tmpfs":
                size = f",tmpfs-size={mount['size']}" if mount.get("size") else ""
                argv += ["--mount", f"type=tmpfs,destination={mount['target']},tmpfs-mode=1777{size}"]
            else:
                suffix = ":ro" if mount.get("read_only") else ""
                argv += ["-v", f"{mount['source']}:{mount['target']}{suffix}"]
        env_file = self.scratch / f"{plan.name}.env"
        env_file.write_text(
            "".join(f"{key}={value}\n" for key, value in {**plan.env, "HOSTNAME": plan.name}.items())
        )
        argv += ["--env-file", str(env_file)]
        if plan.command:
            argv += ["--entrypoint", json.dumps(plan.command)]
        argv += [plan.image, *plan.args]
        return Launch(argv, self.env)

    def remove(self, containers: list[str]) -> None:
        if containers:
            subprocess.run(
                [*self.base, "rm", "-f", "-i", *containers], env=self.env, capture_output=True, check=False
            )
