"""The floor's and the plain-KServe baseline's in-process model calls, on a tiny exported version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bench.plain_kserve import TorchScriptPredictor
from bench.stack_setup import bench_environment
from bench.torchscript import TorchScriptModels
from modelyard.settings import Settings
from serving.transformer.version import VersionState, read_version_state
from training.base import ExportedModel, TensorSpec
from training.export import write_version


class SumAndDouble(nn.Module):
    """Two inputs, two outputs (a tuple), as a model with two heads would return."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a + b.float(), (a * 2).sum(dim=1, keepdim=True)


@pytest.fixture
def version(tmp_path: Path) -> VersionState:
    exported = ExportedModel(
        "toy",
        torch.jit.script(SumAndDouble()),
        [TensorSpec("a", "float32", (3,)), TensorSpec("b", "int64", (3,))],
        [TensorSpec("total", "float32", (3,)), TensorSpec("double", "float32", (1,))],
    )
    write_version(tmp_path, [exported], {}, config={}, report={}, artifacts={})
    return read_version_state("toy-model", 4, tmp_path)


def test_forward_takes_inputs_by_signature_name_and_names_every_output(version: VersionState) -> None:
    inputs = {"b": np.array([[1, 2, 3]], dtype=np.int64), "a": np.ones((1, 3), dtype=np.float32)}
    outputs = TorchScriptModels(version).forward("toy", inputs)
    assert list(outputs) == ["total", "double"]
    assert outputs["total"].tolist() == [[2.0, 3.0, 4.0]] and outputs["double"].tolist() == [[6.0]]
    assert {array.dtype for array in outputs.values()} == {np.dtype("float32")}


def test_the_baseline_predictor_answers_like_the_triton_one(version: VersionState) -> None:
    predictor = TorchScriptPredictor(TorchScriptModels(version))
    inputs = {"a": np.zeros((2, 3), dtype=np.float32), "b": np.ones((2, 3), dtype=np.int64)}
    answer = asyncio.run(predictor.infer("toy", "4", inputs, "request-1"))
    assert answer["total"].shape == (2, 3) and answer["double"].shape == (2, 1)


def test_children_get_the_benchmark_state_dir_and_the_users_datasets(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "bench", data_dir=tmp_path / "data")
    env = bench_environment(settings)
    assert env["MODELYARD_STATE_DIR"] == str(tmp_path / "bench")
    assert env["MODELYARD_DATA_DIR"] == str(tmp_path / "data")
    assert env["MODELYARD_SOURCES_DIR"] == str(settings.sources_dir)
