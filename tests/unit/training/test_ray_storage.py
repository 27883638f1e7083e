"""Where Ray Train keeps checkpoints: a local folder on one node, a shared URI once workers run on
other pods (the chart sets MODELYARD_RAY_STORAGE_URI then), and the run folder cleared either way."""

from __future__ import annotations

from pathlib import Path

from modelyard.settings import Settings
from training.runner import RAY_RESULTS, prepare_run_dir, ray_storage


def test_storage_is_local_without_a_uri_and_the_uri_when_set(tmp_path: Path) -> None:
    local = Settings(state_dir=tmp_path)
    assert ray_storage(local) == str(tmp_path.resolve() / RAY_RESULTS)
    shared = Settings(state_dir=tmp_path, ray_storage_uri="s3://bucket/ray-results?endpoint_override=m:9000")
    assert ray_storage(shared) == "s3://bucket/ray-results?endpoint_override=m:9000"


def test_a_run_folder_without_a_result_is_cleared_in_a_folder_and_under_a_uri(tmp_path: Path) -> None:
    for storage in (str(tmp_path / "plain"), (tmp_path / "uri").as_uri()):
        run = Path(storage.removeprefix("file://")) / "ranking-smoke-abc"
        (run / "checkpoint_000001").mkdir(parents=True)
        (run / "checkpoint_000001" / "model.pt").write_bytes(b"half written")

        assert prepare_run_dir(storage, "ranking-smoke-abc", epochs=5, resume=True) == 0
        assert not run.exists()
        assert prepare_run_dir(storage, "ranking-smoke-abc", epochs=5, resume=True) == 0  # nothing there
