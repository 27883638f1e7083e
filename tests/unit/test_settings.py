"""Settings: embedded defaults under the state dir, and env overrides with the MODELYARD_ prefix."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from modelyard.settings import Settings


def test_embedded_defaults_live_under_the_state_dir(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path / "st")
    root = (tmp_path / "st").resolve()
    assert s.state_dir == root
    assert s.data_dir == root / "data"
    assert s.qdrant_path == root / "qdrant"
    assert s.ray_temp_dir == root / "ray"
    assert s.mlflow_artifact_root == root / "mlartifacts"
    assert s.mlflow_tracking_uri == f"sqlite:///{root / 'mlflow.db'}"
    assert s.mlflow_is_embedded
    assert s.qdrant_url is None and s.ray_address is None
    assert s.host == "127.0.0.1"


def test_env_points_each_backend_at_a_real_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELYARD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MODELYARD_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MODELYARD_QDRANT_URL", "http://127.0.0.1:6333")
    monkeypatch.setenv("MODELYARD_QDRANT_API_KEY", "s3cret")
    monkeypatch.setenv("MODELYARD_RAY_ADDRESS", "ray://127.0.0.1:10001")
    s = Settings()
    assert s.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert not s.mlflow_is_embedded
    assert s.qdrant_url == "http://127.0.0.1:6333"
    assert s.ray_address == "ray://127.0.0.1:10001"
    assert "s3cret" not in repr(s)
    assert s.qdrant_api_key is not None and s.qdrant_api_key.get_secret_value() == "s3cret"


def test_explicit_paths_win_over_state_dir_defaults(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path / "a", data_dir=tmp_path / "elsewhere")
    assert s.data_dir == (tmp_path / "elsewhere").resolve()
    assert s.qdrant_path == (tmp_path / "a" / "qdrant").resolve()


@pytest.mark.parametrize("field,value", [("device", "tpu"), ("gateway_port", 0), ("gateway_port", 70000)])
def test_invalid_values_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_every_field_is_documented() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []


def test_hardening_settings_default_closed_and_read_from_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closed = Settings(state_dir=tmp_path)
    assert closed.admin_key_file == tmp_path.resolve() / "admin_key"
    assert closed.rollout_allowed_upstreams == [] and not closed.allow_no_auth_on_network
    assert not closed.gateway_docs and closed.gateway_metrics_port is None
    monkeypatch.setenv(
        "MODELYARD_ROLLOUT_ALLOWED_UPSTREAMS", '["http://127.0.0.1", "https://Models.Example:8443"]'
    )
    monkeypatch.setenv("MODELYARD_ADMIN_KEY", "adm1n")
    s = Settings(state_dir=tmp_path)
    assert s.rollout_allowed_upstreams == ["http://127.0.0.1", "https://models.example:8443"]
    assert "adm1n" not in repr(s)


def test_an_allow_list_entry_with_a_path_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_ROLLOUT_ALLOWED_UPSTREAMS", '["http://127.0.0.1/x"]')
    with pytest.raises(ValidationError, match="rollout_allowed_upstreams"):
        Settings()
