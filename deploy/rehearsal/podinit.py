"""Inside a pod's namespaces: mount its volumes, then become its container process.

Run as ``ip netns exec <ns> python -m deploy.rehearsal.podinit SPEC.json``: ``ip netns exec``
has already given this process its own mount namespace (a slave of the host's, so nothing
mounted here leaks out). The spec lists the volumes (tmpfs for ``emptyDir: {medium: Memory}``,
bind mounts for emptyDirs, ConfigMaps, claims and the model store), host paths that must stay
visible under a mounted folder (the repository and its venv when they live under ``/tmp``), the
working directory, the environment and the argv to exec. What fails here is printed to the
pod's log and exits 127, as a container runtime does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def apply_mounts(mounts: list[dict], keep: list[str]) -> None:
    for mount in mounts:
        target = mount["target"]
        if mount["type"] == "tmpfs":
            options = "mode=1777" + (f",size={mount['size']}" if mount.get("size") else "")
            _mount("-t", "tmpfs", "-o", options, "tmpfs", target)
            continue
        source = Path(mount["source"])
        for path in keep:
            if Path(path).is_relative_to(target) and path != target:
                inner = source / Path(path).relative_to(target)
                inner.mkdir(parents=True, exist_ok=True)
                _mount("--bind", path, str(inner))
        _mount("--rbind", str(source), target)
        if mount.get("read_only"):
            _mount("-o", "remount,bind,ro", target)


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    try:
        apply_mounts(spec["mounts"], spec.get("keep", []))
        os.chdir(spec.get("workdir") or "/")
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"podinit: cannot start {spec['argv'][:1]}: {error}", file=sys.stderr, flush=True)
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1])
