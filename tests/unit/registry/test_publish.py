"""Publishing registered versions to a model store: real MLflow on sqlite, a ``file://`` store."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from modelyard.artifact.layout import list_models
from modelyard.errors import DataError, UnavailableError, UsageError
from modelyard.registry import Registry, probe_store, publish_version, resolve_store
from modelyard.registry.publish import STORAGE_URI_TAG, check_store
from modelyard.settings import Settings, get_settings
from tests.unit.registry.triton_versions import TRITON_MODEL, register_triton_version
from yard.registry import app as registry_app
from yard.rollout import app as rollout_app

runner = CliRunner()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One sqlite registry per module, also seen by the CLI through MODELYARD_STATE_DIR."""
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELYARD_STATE_DIR", str(state))
        patch.delenv("MODELYARD_MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MODELYARD_MODEL_STORE_URI", raising=False)
        get_settings.cache_clear()
        yield Registry()
    get_settings.cache_clear()


@pytest.fixture
def model(registry: Registry, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A model of its own per test with two versions (v2 shows the Triton renumbering)."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:60]
    for number in (1, 2):
        register_triton_version(registry, name, tmp_path / f"v{number}")
    return name


def store_of(tmp_path: Path) -> str:
    return (tmp_path / "store").as_uri()


def test_published_folder_is_a_triton_repository_root(registry: Registry, model: str, tmp_path: Path) -> None:
    uri = publish_version(registry, model, 2, store_of(tmp_path))

    assert uri == f"{store_of(tmp_path)}/{model}/2"
    root = tmp_path / "store" / model / "2"
    assert list_models(root) == [TRITON_MODEL]
    # The transformer asks Triton for the MLflow version, so that is the version folder.
    assert sorted(p.name for p in (root / TRITON_MODEL).iterdir()) == ["2", "config.pbtxt", "configs"]
    assert (
        "version_policy: { specific: { versions: [ 2 ] } }"
        in (root / TRITON_MODEL / "config.pbtxt").read_text()
    )
    scripted = torch.jit.load(str(root / TRITON_MODEL / "2" / "model.pt"))
    assert scripted(torch.ones(1, 4)).item() == 4.0
    assert (root / TRITON_MODEL / "2" / "model.py").is_file()
    assert registry.resolve(f"{model}/2").tags[STORAGE_URI_TAG] == uri


def test_published_models_carry_a_gpu_config_for_gpu_nodes(
    registry: Registry, model: str, tmp_path: Path
) -> None:
    """The chart's gpu.enabled starts Triton with --model-config-name=gpu: that config must differ from
    config.pbtxt in the instance kind only."""
    publish_version(registry, model, 2, store_of(tmp_path))
    model_dir = tmp_path / "store" / model / "2" / TRITON_MODEL
    cpu = (model_dir / "config.pbtxt").read_text()
    gpu = (model_dir / "configs" / "gpu.pbtxt").read_text()
    assert "kind: KIND_CPU" in cpu
    assert gpu == cpu.replace("kind: KIND_CPU", "kind: KIND_GPU")


def test_republishing_is_idempotent_and_local_files_equal_downloaded(
    registry: Registry, model: str, tmp_path: Path
) -> None:
    store = store_of(tmp_path)
    first = publish_version(registry, model, 1, store)
    published = tmp_path / "store" / model / "1"
    before = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    # Training publishes from the folder it registered; the result must be the same bytes.
    again = publish_version(registry, model, 1, store, files=tmp_path / "v1")
    after = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert again == first
    assert after == before and len(after) == 4  # config, configs/gpu, model.py, model.pt


def test_foreign_files_in_the_folder_fail_the_check(registry: Registry, model: str, tmp_path: Path) -> None:
    stray = tmp_path / "store" / model / "1" / "other-model" / "config.pbtxt"
    stray.parent.mkdir(parents=True)
    stray.write_text('name: "other-model"')
    with pytest.raises(DataError, match="unexpected: other-model/config.pbtxt") as caught:
        publish_version(registry, model, 1, store_of(tmp_path))
    assert f"yard registry publish {model} --version 1" in caught.value.hint
    assert STORAGE_URI_TAG not in registry.resolve(f"{model}/1").tags


def test_unwritable_store_says_how_to_retry(registry: Registry, model: str, tmp_path: Path) -> None:
    (tmp_path / "store").write_text("a file where the store folder should be")
    with pytest.raises(UnavailableError, match="model store") as caught:
        publish_version(registry, model, 2, store_of(tmp_path))
    assert "MODELYARD_MODEL_STORE_URI" in caught.value.hint
    assert f"v2 stays registered: retry with `yard registry publish {model} --version 2`" in caught.value.hint
    assert registry.resolve(f"{model}/2").version == 2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_s3_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(UnavailableError, match="Could not connect") as caught:
        probe_store("s3://models/prefix")
    assert "MLFLOW_S3_ENDPOINT_URL" in caught.value.hint and "before training" in caught.value.hint


@pytest.mark.parametrize(
    "store", ["", "bogus://bucket", "s3://", "file:relative/dir", "file://host/abs", "/abs/without/scheme"]
)
def test_invalid_store_uri_is_a_usage_error(store: str) -> None:
    with pytest.raises(UsageError, match="is not s3://bucket"):
        check_store(store)


def test_explicit_store_wins_and_unset_names_the_variable(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, model_store_uri="s3://from-settings/")
    assert resolve_store(None, settings) == "s3://from-settings"
    assert resolve_store("gs://explicit/prefix", settings) == "gs://explicit/prefix"
    with pytest.raises(UsageError) as caught:
        resolve_store(None, Settings(state_dir=tmp_path, model_store_uri=None))
    assert "MODELYARD_MODEL_STORE_URI" in caught.value.hint


def test_cli_publishes_the_champion_and_prints_the_storage_uri(
    registry: Registry, model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_alias(model, "champion", 2)
    monkeypatch.setenv("MODELYARD_MODEL_STORE_URI", store_of(tmp_path))
    get_settings.cache_clear()
    shown = runner.invoke(registry_app, ["publish", model, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {
        "model": model,
        "version": 2,
        "storage_uri": f"{store_of(tmp_path)}/{model}/2",
    }
    text = runner.invoke(registry_app, ["publish", model, "--version", "1"])
    assert f"models.{model}.storageUri={store_of(tmp_path)}/{model}/1" in text.stdout.replace("\n", "")
    both = runner.invoke(registry_app, ["publish", model, "--version", "1", "--alias", "champion"])
    assert isinstance(both.exception, UsageError)


def test_cli_without_a_store_fails_before_touching_anything(registry: Registry) -> None:
    get_settings.cache_clear()
    for app, args in (
        (registry_app, ["publish", "ranking", "--version", "1"]),
        (rollout_app, ["start", "ranking", "--version", "2", "--target", "k8s"]),
    ):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, UsageError), result.output
        assert "MODELYARD_MODEL_STORE_URI" in result.exception.hint
