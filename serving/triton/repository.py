"""Write Triton model repositories for TorchScript modules (python backend).

Layout, one folder per model: ``<root>/<name>/config.pbtxt`` and
``<root>/<name>/<version>/{model.py, model.pt}``. The same folder runs on the local
``tritonserver`` of the nvidia-pytriton wheel and on the official Triton image, so the
config names only the python backend and ``model.py`` is the generic loader
``python_backend_model.py`` of this package.

Where a model runs (CPU or GPU, how many instances) is a serve-time setting:
``configure_instances`` rewrites only the ``instance_group`` of an existing config.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelyard.errors import NotFoundError, UsageError

CONFIG_FILE = "config.pbtxt"
CONFIG_VARIANTS = "configs"
"""Triton's folder of named config variants (``--model-config-name``)."""
MODEL_FILE = "model.py"
TORCHSCRIPT_FILE = "model.pt"
BACKEND_MODEL_SOURCE = Path(__file__).with_name("python_backend_model.py")

if TYPE_CHECKING:  # torch is imported only where a module is written: the supervisor never needs it
    import torch

InstanceKind = Literal["KIND_CPU", "KIND_GPU", "KIND_AUTO"]
INSTANCE_KINDS: tuple[str, ...] = ("KIND_CPU", "KIND_GPU", "KIND_AUTO")

TRITON_DTYPES: dict[str, str] = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
    "object": "TYPE_STRING",
    "bytes": "TYPE_STRING",
    "str": "TYPE_STRING",
}
"""numpy dtype name -> Triton ``data_type`` (strings travel as TYPE_STRING / BYTES)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a model; ``dims`` exclude the batch dim, -1 marks a variable dim."""

    name: str
    dtype: str
    dims: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(int(d) for d in self.dims))
        if not _NAME.match(self.name):
            raise UsageError(f"tensor name {self.name!r} is not valid", hint="use letters, digits, _ . -")
        if self.dtype not in TRITON_DTYPES:
            raise UsageError(
                f"tensor {self.name!r} has dtype {self.dtype!r}", hint=f"use one of {sorted(TRITON_DTYPES)}"
            )
        if not self.dims or any(d == 0 or d < -1 for d in self.dims):
            raise UsageError(
                f"tensor {self.name!r} has dims {self.dims}", hint="give positive sizes or -1, e.g. (784,)"
            )

    @property
    def triton_dtype(self) -> str:
        return TRITON_DTYPES[self.dtype]


@dataclass(frozen=True)
class InstanceGroup:
    """Where Triton runs a model: ``kind`` (KIND_CPU/KIND_GPU/KIND_AUTO) times ``count``."""

    kind: str
    count: int

    def __post_init__(self) -> None:
        if self.kind not in INSTANCE_KINDS:
            raise UsageError(f"instance kind {self.kind!r} is unknown", hint=f"use one of {INSTANCE_KINDS}")
        if self.count < 1:
            raise UsageError(f"instance count {self.count} is below 1", hint="use a count of 1 or more")


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
    _write_atomically(model_dir / CONFIG_FILE, lambda tmp: tmp.write_text(config))
    _write_atomically(version_dir / MODEL_FILE, lambda tmp: shutil.copyfile(BACKEND_MODEL_SOURCE, tmp))
    import torch

    _write_atomically(version_dir / TORCHSCRIPT_FILE, lambda tmp: torch.jit.save(module, str(tmp)))
    return model_dir


def render_config(
    name: str,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    max_batch_size: int,
    max_queue_delay_us: int,
    instances: InstanceGroup,
) -> str:
    """The ``config.pbtxt`` text (protobuf text format of Triton's ModelConfig)."""
    lines = [
        "# Written by modelyard (serving/triton/repository.py).",
        f'name: "{name}"',
        'backend: "python"',
        f"max_batch_size: {max_batch_size}",
        *_tensor_block("input", inputs),
        *_tensor_block("output", outputs),
    ]
    if max_batch_size > 0:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {max_queue_delay_us}", "}"]
    lines.append(_instance_block(instances))
    return "\n".join(lines) + "\n"


def read_instance_group(model_dir: Path) -> InstanceGroup:
    """The (first) instance group of a model's config; Triton's default is one CPU instance."""
    block = _find_instance_block(_read_config(model_dir))
    if block is None:
        return InstanceGroup("KIND_CPU", 1)
    kind = re.search(r"kind\s*:\s*(\w+)", block)
    count = re.search(r"count\s*:\s*(\d+)", block)
    return InstanceGroup(kind.group(1) if kind else "KIND_AUTO", int(count.group(1)) if count else 1)


def configure_instances(model_dir: Path, kind: str, count: int | None = None) -> InstanceGroup:
    """Set where a model runs without rebuilding it; ``count=None`` keeps the current count."""
    text = _read_config(model_dir)
    current = read_instance_group(model_dir)
    wanted = InstanceGroup(kind, current.count if count is None else count)
    if wanted != current:
        text = _with_instance_group(text, wanted)
        _write_atomically(Path(model_dir) / CONFIG_FILE, lambda tmp: tmp.write_text(text))
    return wanted


def write_config_variant(model_dir: Path, name: str, kind: str) -> Path:
    """``<model>/configs/<name>.pbtxt``: the model's config with instances of ``kind``. Triton loads it
    instead of config.pbtxt when started with ``--model-config-name=<name>`` (the chart does, on GPU)."""
    current = read_instance_group(model_dir)
    text = _with_instance_group(_read_config(model_dir), InstanceGroup(kind, current.count))
    target = Path(model_dir) / CONFIG_VARIANTS / f"{name}.pbtxt"
    target.parent.mkdir(exist_ok=True)
    _write_atomically(target, lambda tmp: tmp.write_text(text))
    return target


def list_models(root: Path) -> list[str]:
    """Names of the models (folders with a ``config.pbtxt``) in a repository."""
    return sorted(p.parent.name for p in Path(root).glob(f"*/{CONFIG_FILE}"))


def instance_kind_for_device(device: str) -> str:
    """Map ``settings.device`` (auto/cpu/cuda) to a Triton instance kind."""
    if device == "cpu":
        return "KIND_CPU"
    # Triton, not torch, drives the GPU here: the NVIDIA driver's control device is the signal.
    if device == "cuda" or Path("/dev/nvidiactl").exists():
        return "KIND_GPU"
    return "KIND_CPU"


def _check_model(
    name: str,
    module: torch.jit.ScriptModule,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    max_batch_size: int,
    version: int,
) -> None:
    if not _NAME.match(name):
        raise UsageError(f"model name {name!r} is not valid", hint="use letters, digits, _ . -")
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


def _tensor_block(field: str, specs: list[TensorSpec]) -> list[str]:
    return [f"{field} [", ",\n".join(_tensor_entry(spec) for spec in specs), "]"]


def _tensor_entry(spec: TensorSpec) -> str:
    dims = ", ".join(map(str, spec.dims))
    return f'  {{\n    name: "{spec.name}"\n    data_type: {spec.triton_dtype}\n    dims: [ {dims} ]\n  }}'


def _instance_block(instances: InstanceGroup) -> str:
    return f"instance_group [\n  {{\n    kind: {instances.kind}\n    count: {instances.count}\n  }}\n]"


def _with_instance_group(text: str, group: InstanceGroup) -> str:
    block = _find_instance_block(text)
    new_block = _instance_block(group)
    return text.replace(block, new_block) if block else text.rstrip("\n") + "\n" + new_block + "\n"


def _find_instance_block(text: str) -> str | None:
    """The whole ``instance_group [...]`` text, brackets balanced (it may nest ``gpus: [..]``)."""
    match = re.search(r"^\s*instance_group\s*:?\s*\[", text, flags=re.MULTILINE)
    if match is None:
        return None
    depth = 0
    for index in range(match.end() - 1, len(text)):
        depth += {"[": 1, "]": -1}.get(text[index], 0)
        if depth == 0:
            return text[match.start() : index + 1].lstrip("\n")
    raise UsageError("config.pbtxt has an unclosed instance_group", hint="fix or rewrite the config")


def _read_config(model_dir: Path) -> str:
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise NotFoundError(f"no {CONFIG_FILE} in {model_dir}", hint="write it with write_model_repository")
    return path.read_text()


def _write_atomically(path: Path, write) -> None:
    """Write beside the target then rename, so a running Triton never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
