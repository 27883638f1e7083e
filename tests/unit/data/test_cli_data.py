"""``yard data`` commands on tiny synthetic sources (the typer sub-app, run in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from modelyard.errors import DataError, UsageError
from modelyard.settings import Settings, get_settings
from yard import data as data_cli


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose commands see ``settings`` (the CLI reads the process-wide settings)."""
    for field in ("state_dir", "fashion_mnist_source", "spamassassin_source", "movielens_source"):
        monkeypatch.setenv(f"MODELYARD_{field.upper()}", str(getattr(settings, field)))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_prepare_json_then_list_then_verify(cli: CliRunner) -> None:
    prepared = cli.invoke(data_cli.app, ["prepare", "movielens-100k", "--json"])
    assert prepared.exit_code == 0, prepared.output
    [manifest] = json.loads(prepared.stdout)
    assert manifest["rows"] == {"interactions": 2, "users": 2, "items": 2}

    listed = json.loads(cli.invoke(data_cli.app, ["list", "--json"]).stdout)
    assert {row["name"]: row["digest"] for row in listed} == {
        "fashion-mnist": None,
        "spamassassin": None,
        "movielens-100k": manifest["digest"],
    }

    verified = cli.invoke(data_cli.app, ["verify"])
    assert verified.exit_code == 0 and "movielens-100k" in verified.stdout


def test_verify_names_the_corrupt_file(cli: CliRunner, settings: Settings) -> None:
    cli.invoke(data_cli.app, ["prepare", "fashion-mnist"])
    (settings.data_dir / "fashion-mnist" / "train_labels.npy").write_bytes(b"junk")

    result = cli.invoke(data_cli.app, ["verify", "fashion-mnist"])
    assert isinstance(result.exception, DataError)
    assert "train_labels.npy" in str(result.exception)


def test_unknown_name_lists_valid_names(cli: CliRunner) -> None:
    result = cli.invoke(data_cli.app, ["prepare", "imagenet"])
    assert isinstance(result.exception, UsageError)
    assert "fashion-mnist, spamassassin, movielens-100k" in result.exception.hint
