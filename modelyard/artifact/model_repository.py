"""Triton model repositories: one written per version by training, one assembled for serving.

The same folder runs on the local ``tritonserver`` of the nvidia-pytriton wheel and on the
official Triton image, so a config names only the python backend and ``model.py`` is the generic
loader ``python_backend_model.py`` of this package.

Training writes each Triton model of a version as version ``1`` of its own small repository
(``<artifact>/model_repository/<triton model>/{config.pbtxt,1/...}``). Serving renumbers:
the Triton version number IS the MLflow version number, so ``<serve repo>/<triton model>/<N>/``
holds MLflow version N and the config's ``version_policy`` lists exactly the versions served
(a canary adds a second one). Every artifact is checked before anything is written, so a
broken version fails with its name and the folders of the version already serving stay intact.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import UsageError
from modelyard.fsutil import write_atomically, write_text_atomically
from modelyard.models import MODELS

from .layout import (
    CONFIG_FILE,
    MODEL_FILE,
    SOURCE_VERSION,
    TORCHSCRIPT_FILE,
    VersionArtifacts,
    check_artifacts,
)
from .triton_config import NAME, InstanceGroup, TensorSpec, render_config, with_version_policy

if TYPE_CHECKING:  # torch is imported only where a module is written: the supervisor never needs it
    import torch

BACKEND_MODEL_SOURCE = Path(__file__).with_name("python_backend_model.py")


def write_model_repository(
    root: Path,
    name: str,
    module: torch.jit.ScriptModule,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    *,
    max_batch_size: int = 64,
    version: int = 1,
    instance_kind: str = "KIND_CPU",
    instance_count: int = 1,
    max_queue_delay_us: int = 500,
) -> Path:
    """Write (or overwrite) one model version and its config; returns ``root/<name>``.

    ``max_batch_size=0`` turns batching off (then dims include every dim the client sends).
    """
    _check_model(name, module, inputs, outputs, max_batch_size, version)
    instances = InstanceGroup(instance_kind, instance_count)
    model_dir = Path(root) / name
    version_dir = model_dir / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    config = render_config(name, inputs, outputs, max_batch_size, max_queue_delay_us, instances)
    write_text_atomically(model_dir / CONFIG_FILE, config)
    write_atomically(version_dir / MODEL_FILE, lambda tmp: shutil.copyfile(BACKEND_MODEL_SOURCE, tmp))
    # lazy: torch takes seconds to import; only this path needs it
    import torch

    write_atomically(version_dir / TORCHSCRIPT_FILE, lambda tmp: torch.jit.save(module, str(tmp)))
    return model_dir


def _check_model(
    name: str,
    module: torch.jit.ScriptModule,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    max_batch_size: int,
    version: int,
) -> None:
    if not NAME.match(name):
        raise UsageError(f"model name {name!r} is not valid", hint="use letters, digits, _ . -")
    # lazy: torch takes seconds to import; only this path needs it
    import torch

    if not isinstance(module, torch.jit.ScriptModule):
        raise UsageError(
            f"model {name!r} is a {type(module).__name__}, not TorchScript",
            hint="pass torch.jit.script(model) or torch.jit.trace(model, example)",
        )
    if not inputs or not outputs:
        raise UsageError(f"model {name!r} needs at least one input and one output", hint="list TensorSpecs")
    names = [spec.name for spec in [*inputs, *outputs]]
    if len(set(names)) != len(names):
        raise UsageError(
            f"model {name!r} repeats a tensor name: {names}", hint="give each tensor its own name"
        )
    if max_batch_size < 0 or version < 1:
        raise UsageError(
            f"model {name!r}: max_batch_size={max_batch_size}, version={version}",
            hint="max_batch_size >= 0 and version >= 1",
        )


def assemble(serve_root: Path, served: Sequence[VersionArtifacts]) -> dict[str, list[int]]:
    """Make ``serve_root`` serve exactly ``served``; returns ``{triton model: [versions]}``.

    Idempotent. Several versions of one registered model may be served together (a canary);
    they must ship the same Triton models, and the newest version's config wins. A model
    ``modelyard.models`` lists serves only the Triton models listed there: an older version may
    ship more (ranking's towers); any other registered model serves all it ships.
    """
    by_triton_model: dict[str, list[VersionArtifacts]] = defaultdict(list)
    for artifacts in served:
        for name in _served_models(artifacts):
            by_triton_model[name].append(artifacts)
    for name, versions in by_triton_model.items():
        numbers = [a.version for a in versions]
        if len(set(numbers)) != len(numbers):
            raise UsageError(f"Triton model {name!r} is asked for twice in versions {numbers}", hint="dedupe")
    for name, versions in by_triton_model.items():
        _install_model(Path(serve_root) / name, name, sorted(versions, key=lambda a: a.version))
    return {name: sorted(a.version for a in versions) for name, versions in sorted(by_triton_model.items())}


def _served_models(artifacts: VersionArtifacts) -> list[str]:
    """The Triton models of a version that are served: those ``modelyard.models`` lists for its
    model (every listed one must be shipped), or all it ships for a model not listed there."""
    shipped = check_artifacts(artifacts)
    spec = MODELS.get(artifacts.model)
    if spec is None:
        return shipped
    missing = [name for name in spec.triton_models if name not in shipped]
    if missing:
        raise UsageError(
            f"{artifacts.model} version {artifacts.version} ships no Triton model {', '.join(missing)}"
            f" (it ships {', '.join(shipped) or 'none'})",
            hint=f"retrain it: yard train {artifacts.model}",
        )
    return [name for name in shipped if name in spec.triton_models]


def _install_model(model_dir: Path, name: str, versions: list[VersionArtifacts]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    for artifacts in versions:
        _replace_dir(artifacts.model_repository / name / SOURCE_VERSION, model_dir / str(artifacts.version))
    wanted = {str(a.version) for a in versions}
    for stale in (p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and p.name not in wanted):
        shutil.rmtree(stale)
    newest = versions[-1].model_repository / name / CONFIG_FILE
    config = with_version_policy(newest.read_text(), [a.version for a in versions])
    write_text_atomically(model_dir / CONFIG_FILE, config)


def _replace_dir(source: Path, target: Path) -> None:
    """Copy beside the target, then swap: a reader never sees half a version folder."""
    staging = target.with_name(f".{target.name}.staging")
    retired = target.with_name(f".{target.name}.retired")
    for leftover in (staging, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
