"""Triton's ``config.pbtxt``: rendered for a model's tensors, then edited in place at serve time.

Where a model runs (CPU or GPU, how many instances) and which versions it serves are serve-time
settings: ``configure_instances``, ``write_config_variant`` and ``with_version_policy`` rewrite
one block of an existing config (``find_block``) and leave the rest as training wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelyard.errors import DataError, NotFoundError, UsageError
from modelyard.fsutil import write_text_atomically

from .layout import CONFIG_FILE, CONFIG_VARIANTS

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

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a model; ``dims`` exclude the batch dim, -1 marks a variable dim."""

    name: str
    dtype: str
    dims: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(int(d) for d in self.dims))
        if not NAME.match(self.name):
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
        "# Written by modelyard (modelyard/artifact/triton_config.py).",
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
    block = find_block(_read_config(model_dir), "instance_group")
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
        write_text_atomically(Path(model_dir) / CONFIG_FILE, text)
    return wanted


def write_config_variant(model_dir: Path, name: str, kind: str) -> Path:
    """``<model>/configs/<name>.pbtxt``: the model's config with instances of ``kind``. Triton loads it
    instead of config.pbtxt when started with ``--model-config-name=<name>`` (the chart does, on GPU)."""
    current = read_instance_group(model_dir)
    text = _with_instance_group(_read_config(model_dir), InstanceGroup(kind, current.count))
    target = Path(model_dir) / CONFIG_VARIANTS / f"{name}.pbtxt"
    target.parent.mkdir(exist_ok=True)
    write_text_atomically(target, text)
    return target


def instance_kind_for_device(device: str) -> str:
    """Map ``settings.device`` (auto/cpu/cuda) to a Triton instance kind."""
    if device == "cpu":
        return "KIND_CPU"
    # Triton, not torch, drives the GPU here: the NVIDIA driver's control device is the signal.
    if device == "cuda" or Path("/dev/nvidiactl").exists():
        return "KIND_GPU"
    return "KIND_CPU"


def _tensor_block(field: str, specs: list[TensorSpec]) -> list[str]:
    return [f"{field} [", ",\n".join(_tensor_entry(spec) for spec in specs), "]"]


def _tensor_entry(spec: TensorSpec) -> str:
    dims = ", ".join(map(str, spec.dims))
    return f'  {{\n    name: "{spec.name}"\n    data_type: {spec.triton_dtype}\n    dims: [ {dims} ]\n  }}'


def _instance_block(instances: InstanceGroup) -> str:
    return f"instance_group [\n  {{\n    kind: {instances.kind}\n    count: {instances.count}\n  }}\n]"


def _with_instance_group(text: str, group: InstanceGroup) -> str:
    return with_block(text, "instance_group", _instance_block(group))


def render_version_policy(versions: Sequence[int]) -> str:
    numbers = ", ".join(str(v) for v in sorted(versions))
    return f"version_policy: {{ specific: {{ versions: [ {numbers} ] }} }}"


def with_version_policy(config: str, versions: Sequence[int]) -> str:
    """``config`` with its ``version_policy`` replaced by one serving exactly ``versions``."""
    return with_block(config, "version_policy", render_version_policy(versions))


def with_block(text: str, field: str, block: str) -> str:
    """``text`` with the ``field`` block replaced by ``block`` (appended when there is none)."""
    current = find_block(text, field)
    return text.replace(current, block) if current else text.rstrip("\n") + "\n" + block + "\n"


_CLOSING = {"{": "}", "[": "]"}


def find_block(text: str, field: str) -> str | None:
    """The whole top-level ``field [...]`` / ``field { ... }`` (a colon may follow the name), from the
    name to its balanced closing bracket; brackets inside it (``gpus: [..]``) nest."""
    for match in re.finditer(rf"(?<![\w.]){re.escape(field)}\s*:?\s*([{{\[])", text):
        opening = match.group(1)
        depth = 0
        for index in range(match.end() - 1, len(text)):
            depth += {opening: 1, _CLOSING[opening]: -1}.get(text[index], 0)
            if depth == 0:
                return text[match.start() : index + 1]
        raise DataError(f"{CONFIG_FILE} has an unclosed {field}", hint="fix or rewrite the config")
    return None


def _read_config(model_dir: Path) -> str:
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise NotFoundError(f"no {CONFIG_FILE} in {model_dir}", hint="write it with write_model_repository")
    return path.read_text()
