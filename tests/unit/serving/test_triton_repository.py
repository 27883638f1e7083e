"""Triton model repositories: config.pbtxt content, dtype mapping, serve-time instances."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from modelyard.artifact.layout import list_models
from modelyard.artifact.model_repository import BACKEND_MODEL_SOURCE, write_model_repository
from modelyard.artifact.triton_config import (
    InstanceGroup,
    TensorSpec,
    configure_instances,
    instance_kind_for_device,
    read_instance_group,
)
from modelyard.errors import NotFoundError, UsageError


class Doubler(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 2 * x, x.sum(dim=1, keepdim=True)


class Scorer(torch.nn.Module):
    def forward(self, user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (user.float() * items).sum(dim=1, keepdim=True)


DOUBLER_INPUTS = [TensorSpec("x", "float32", (4,))]
DOUBLER_OUTPUTS = [TensorSpec("y", "float32", (4,)), TensorSpec("total", "float32", (1,))]


def tensor_entries(config: str, field: str) -> list[tuple[str, str, str]]:
    """(name, data_type, dims) of each tensor under ``field [ ... ]`` in a config text."""
    section = re.search(rf"^{field} \[\n(.*?)^\]", config, flags=re.MULTILINE | re.DOTALL)
    assert section is not None, f"no {field} section in:\n{config}"
    return re.findall(r'name: "([^"]+)"\s+data_type: (\w+)\s+dims: \[ ([^\]]*) \]', section.group(1))


def write_doubler(root: Path, **options) -> Path:
    return write_model_repository(
        root, "doubler", torch.jit.script(Doubler()), DOUBLER_INPUTS, DOUBLER_OUTPUTS, **options
    )


@pytest.mark.parametrize(
    ("dtype", "triton"),
    [
        ("float32", "TYPE_FP32"),
        ("float16", "TYPE_FP16"),
        ("float64", "TYPE_FP64"),
        ("int64", "TYPE_INT64"),
        ("int32", "TYPE_INT32"),
        ("uint8", "TYPE_UINT8"),
        ("bool", "TYPE_BOOL"),
        ("object", "TYPE_STRING"),
        ("bytes", "TYPE_STRING"),
    ],
)
def test_numpy_dtype_maps_to_triton_type(dtype: str, triton: str) -> None:
    assert TensorSpec("t", dtype, (1,)).triton_dtype == triton


@pytest.mark.parametrize(
    ("name", "dtype", "dims"),
    [
        ("x", "complex64", (1,)),
        ("x", "float32", ()),
        ("x", "float32", (0,)),
        ("x", "float32", (-2,)),
        ("a/b", "int64", (1,)),
    ],
)
def test_tensor_spec_rejects_what_triton_cannot_serve(name: str, dtype: str, dims: tuple[int, ...]) -> None:
    with pytest.raises(UsageError):
        TensorSpec(name, dtype, dims)


def test_repository_layout_holds_config_loader_and_torchscript(tmp_path: Path) -> None:
    model_dir = write_doubler(tmp_path, version=3)

    assert model_dir == tmp_path / "doubler"
    assert (model_dir / "3" / "model.py").read_text() == BACKEND_MODEL_SOURCE.read_text()
    loaded = torch.jit.load(str(model_dir / "3" / "model.pt"))
    y, total = loaded(torch.ones(2, 4))
    assert torch.equal(y, torch.full((2, 4), 2.0)) and torch.equal(total, torch.full((2, 1), 4.0))
    assert sorted(p.name for p in model_dir.rglob("*") if p.name.startswith(".")) == []
    assert list_models(tmp_path) == ["doubler"]


def test_config_names_backend_batching_and_tensors(tmp_path: Path) -> None:
    config = (write_doubler(tmp_path, max_batch_size=32, max_queue_delay_us=250) / "config.pbtxt").read_text()

    assert 'name: "doubler"' in config
    assert 'backend: "python"' in config
    assert "max_batch_size: 32" in config
    assert "max_queue_delay_microseconds: 250" in config
    assert tensor_entries(config, "input") == [("x", "TYPE_FP32", "4")]
    assert tensor_entries(config, "output") == [("y", "TYPE_FP32", "4"), ("total", "TYPE_FP32", "1")]
    assert read_instance_group(tmp_path / "doubler") == InstanceGroup("KIND_CPU", 1)


def test_config_keeps_input_order_types_and_variable_dims(tmp_path: Path) -> None:
    inputs = [TensorSpec("user", "int64", (1,)), TensorSpec("items", "float32", (-1, 8))]
    outputs = [TensorSpec("score", "float32", (1,))]
    model_dir = write_model_repository(
        tmp_path,
        "scorer",
        torch.jit.script(Scorer()),
        inputs,
        outputs,
        instance_kind="KIND_GPU",
        instance_count=2,
    )
    config = (model_dir / "config.pbtxt").read_text()

    assert tensor_entries(config, "input") == [("user", "TYPE_INT64", "1"), ("items", "TYPE_FP32", "-1, 8")]
    assert tensor_entries(config, "output") == [("score", "TYPE_FP32", "1")]
    assert read_instance_group(model_dir) == InstanceGroup("KIND_GPU", 2)


def test_batch_size_zero_turns_dynamic_batching_off(tmp_path: Path) -> None:
    config = (write_doubler(tmp_path, max_batch_size=0) / "config.pbtxt").read_text()

    assert "max_batch_size: 0" in config
    assert "dynamic_batching" not in config


def test_writing_twice_gives_the_same_files(tmp_path: Path) -> None:
    first = (write_doubler(tmp_path) / "config.pbtxt").read_bytes()
    second = (write_doubler(tmp_path) / "config.pbtxt").read_bytes()

    assert first == second
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "doubler/1/model.pt",
        "doubler/1/model.py",
        "doubler/config.pbtxt",
    ]


def test_new_version_lands_beside_the_old_one(tmp_path: Path) -> None:
    write_doubler(tmp_path, version=1)
    write_doubler(tmp_path, version=2)

    assert sorted(p.name for p in (tmp_path / "doubler").iterdir() if p.is_dir()) == ["1", "2"]


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "no/slash"},
        {"module": Doubler()},  # eager module, not TorchScript
        {"outputs": [TensorSpec("x", "float32", (4,))]},  # name clash with the input
        {"outputs": []},
        {"max_batch_size": -1},
        {"version": 0},
        {"instance_kind": "KIND_TPU"},
        {"instance_count": 0},
    ],
)
def test_invalid_models_are_refused_before_anything_is_written(tmp_path: Path, bad: dict) -> None:
    arguments = {
        "name": "doubler",
        "module": torch.jit.script(Doubler()),
        "inputs": DOUBLER_INPUTS,
        "outputs": DOUBLER_OUTPUTS,
    } | bad
    with pytest.raises(UsageError):
        write_model_repository(tmp_path, **arguments)
    assert list(tmp_path.iterdir()) == []


def test_configure_instances_switches_to_gpu_without_touching_the_rest(tmp_path: Path) -> None:
    model_dir = write_doubler(tmp_path)
    before = (model_dir / "config.pbtxt").read_text()

    assert configure_instances(model_dir, "KIND_GPU", 2) == InstanceGroup("KIND_GPU", 2)
    after = (model_dir / "config.pbtxt").read_text()
    assert read_instance_group(model_dir) == InstanceGroup("KIND_GPU", 2)
    assert after.split("instance_group")[0] == before.split("instance_group")[0]
    assert after.count("instance_group") == 1


def test_configure_instances_keeps_the_count_when_none_is_given(tmp_path: Path) -> None:
    model_dir = write_doubler(tmp_path, instance_count=3)

    assert configure_instances(model_dir, "KIND_GPU") == InstanceGroup("KIND_GPU", 3)
    assert configure_instances(model_dir, "KIND_CPU") == InstanceGroup("KIND_CPU", 3)


def test_configure_instances_replaces_a_hand_written_group_with_nested_brackets(tmp_path: Path) -> None:
    model_dir = write_doubler(tmp_path)
    config = model_dir / "config.pbtxt"
    hand_written = "instance_group [\n  { kind: KIND_GPU count: 1 gpus: [ 0, 1 ] }\n]\n"
    config.write_text(config.read_text().split("instance_group")[0] + hand_written)

    configure_instances(model_dir, "KIND_CPU", 2)

    assert "gpus" not in config.read_text()
    assert read_instance_group(model_dir) == InstanceGroup("KIND_CPU", 2)


def test_configure_instances_adds_a_group_when_the_config_has_none(tmp_path: Path) -> None:
    model_dir = write_doubler(tmp_path)
    config = model_dir / "config.pbtxt"
    config.write_text(config.read_text().split("instance_group")[0])
    assert read_instance_group(model_dir) == InstanceGroup("KIND_CPU", 1)  # Triton's default

    configure_instances(model_dir, "KIND_GPU", 1)

    assert read_instance_group(model_dir) == InstanceGroup("KIND_GPU", 1)


def test_configure_instances_needs_an_existing_config(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        configure_instances(tmp_path / "missing", "KIND_CPU", 1)


def test_device_setting_maps_to_instance_kind() -> None:
    assert instance_kind_for_device("cpu") == "KIND_CPU"
    assert instance_kind_for_device("cuda") == "KIND_GPU"
    assert instance_kind_for_device("auto") == ("KIND_GPU" if Path("/dev/nvidiactl").exists() else "KIND_CPU")
