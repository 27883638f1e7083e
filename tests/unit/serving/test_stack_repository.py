"""Assembling the serving Triton repository from version folders laid out like training writes them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from modelyard.artifact.layout import VersionArtifacts, check_artifacts
from modelyard.artifact.model_repository import assemble
from modelyard.artifact.triton_config import with_version_policy
from modelyard.errors import DataError, UsageError


def served_versions(serve_root: Path, triton_model: str) -> list[int]:
    """The version folders Triton may load for ``triton_model``."""
    return sorted(int(p.name) for p in (serve_root / triton_model).iterdir() if p.name.isdigit())


CONFIG = """# Written by modelyard (modelyard/artifact/triton_config.py).
name: "{name}"
backend: "python"
max_batch_size: 64
dynamic_batching {{
  max_queue_delay_microseconds: 500
}}
instance_group [
  {{
    kind: KIND_CPU
    count: 1
  }}
]
"""


def write_version(root: Path, model: str, version: int, triton_models: list[str]) -> VersionArtifacts:
    """A version folder as ``training.export.write_version`` lays it out (model.pt is a zip)."""
    folder = root / model / str(version)
    for name in triton_models:
        model_dir = folder / "model_repository" / name
        (model_dir / "1").mkdir(parents=True)
        (model_dir / "config.pbtxt").write_text(CONFIG.format(name=name))
        (model_dir / "1" / "model.py").write_text(f"# loader of {model} v{version}\n")
        with zipfile.ZipFile(model_dir / "1" / "model.pt", "w") as archive:
            archive.writestr("data.pkl", f"{model}-{version}")
    (folder / "preprocessing.json").write_text("{}")
    return VersionArtifacts(model, version, folder)


def pt_content(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("data.pkl").decode()


def test_versions_are_renumbered_to_the_mlflow_version(tmp_path: Path) -> None:
    ranking = write_version(tmp_path / "art", "ranking", 7, ["ranking-ctr"])
    moderation = write_version(tmp_path / "art", "moderation", 3, ["moderation"])
    serve = tmp_path / "serve"

    loaded = assemble(serve, [ranking, moderation])

    assert loaded == {"moderation": [3], "ranking-ctr": [7]}
    assert pt_content(serve / "ranking-ctr" / "7" / "model.pt") == "ranking-7"
    assert not (serve / "ranking-ctr" / "1").exists()
    config = (serve / "moderation" / "config.pbtxt").read_text()
    assert "version_policy: { specific: { versions: [ 3 ] } }" in config
    assert "instance_group" in config and 'name: "moderation"' in config


def test_triton_models_an_older_version_still_ships_are_not_served(tmp_path: Path) -> None:
    """Ranking versions trained before the towers were dropped still carry them: serve the click model."""
    towers = ["ranking-ctr", "ranking-item-tower", "ranking-user-tower"]
    older = write_version(tmp_path / "art", "ranking", 5, towers)
    newer = write_version(tmp_path / "art", "ranking", 6, ["ranking-ctr"])
    serve = tmp_path / "serve"

    loaded = assemble(serve, [older, newer])

    assert loaded == {"ranking-ctr": [5, 6]}
    assert sorted(p.name for p in serve.iterdir()) == ["ranking-ctr"]
    assert pt_content(serve / "ranking-ctr" / "5" / "model.pt") == "ranking-5"


def test_a_canary_serves_two_versions_side_by_side(tmp_path: Path) -> None:
    stable = write_version(tmp_path / "art", "moderation", 3, ["moderation"])
    canary = write_version(tmp_path / "art", "moderation", 4, ["moderation"])
    serve = tmp_path / "serve"

    assemble(serve, [canary, stable])

    assert served_versions(serve, "moderation") == [3, 4]
    config = (serve / "moderation" / "config.pbtxt").read_text()
    assert config.count("version_policy") == 1
    assert "versions: [ 3, 4 ]" in config


def test_assembling_again_is_idempotent_and_drops_versions_no_longer_served(tmp_path: Path) -> None:
    v3 = write_version(tmp_path / "art", "moderation", 3, ["moderation"])
    v4 = write_version(tmp_path / "art", "moderation", 4, ["moderation"])
    serve = tmp_path / "serve"
    assemble(serve, [v3, v4])
    first = (serve / "moderation" / "config.pbtxt").read_text()

    assemble(serve, [v4])
    assemble(serve, [v4])

    assert served_versions(serve, "moderation") == [4]
    assert "versions: [ 4 ]" in (serve / "moderation" / "config.pbtxt").read_text()
    assert "versions: [ 3, 4 ]" in first
    assert not [p.name for p in (serve / "moderation").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "breakage",
    ["delete model.pt", "truncate model.pt", "garble model.pt", "delete version folder", "delete repository"],
)
def test_a_broken_artifact_names_the_version_and_leaves_the_served_one_alone(
    tmp_path: Path, breakage: str
) -> None:
    good = write_version(tmp_path / "art", "moderation", 3, ["moderation"])
    serve = tmp_path / "serve"
    assemble(serve, [good])
    broken = write_version(tmp_path / "art", "moderation", 4, ["moderation"])
    version_dir = broken.model_repository / "moderation" / "1"
    if breakage == "delete model.pt":
        (version_dir / "model.pt").unlink()
        (version_dir / "model.py").unlink()
    elif breakage == "truncate model.pt":
        (version_dir / "model.pt").write_bytes(b"")
    elif breakage == "garble model.pt":
        (version_dir / "model.pt").write_bytes(b"not a torchscript archive")
    elif breakage == "delete version folder":
        for path in version_dir.iterdir():
            path.unlink()
        version_dir.rmdir()
    else:
        for path in sorted(broken.model_repository.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        broken.model_repository.rmdir()

    with pytest.raises(DataError, match="moderation version 4"):
        assemble(serve, [broken])

    assert served_versions(serve, "moderation") == [3]
    assert pt_content(serve / "moderation" / "3" / "model.pt") == "moderation-3"
    assert "versions: [ 3 ]" in (serve / "moderation" / "config.pbtxt").read_text()


def test_a_version_without_its_models_triton_model_is_refused_by_name(tmp_path: Path) -> None:
    version = write_version(tmp_path / "art", "ranking", 8, ["scorer"])

    with pytest.raises(UsageError, match="ranking version 8 ships no Triton model ranking-ctr") as caught:
        assemble(tmp_path / "serve", [version])
    assert "yard train ranking" in caught.value.hint
    assert not (tmp_path / "serve").exists() or not list((tmp_path / "serve").iterdir())


def test_check_artifacts_lists_the_triton_models(tmp_path: Path) -> None:
    version = write_version(tmp_path, "ranking", 2, ["ranking-item-tower", "ranking-ctr"])
    assert check_artifacts(version) == ["ranking-ctr", "ranking-item-tower"]


def test_the_same_version_twice_is_refused(tmp_path: Path) -> None:
    version = write_version(tmp_path, "moderation", 2, ["moderation"])
    with pytest.raises(UsageError, match="twice"):
        assemble(tmp_path / "serve", [version, version])


def test_an_existing_version_policy_is_replaced_not_duplicated() -> None:
    config = 'name: "m"\nversion_policy: { latest: { num_versions: 2 } }\nmax_batch_size: 8\n'
    updated = with_version_policy(config, [5, 2])
    assert updated == 'name: "m"\nversion_policy: { specific: { versions: [ 2, 5 ] } }\nmax_batch_size: 8\n'
