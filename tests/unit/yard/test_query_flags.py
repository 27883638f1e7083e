"""``yard query`` names the gateway ``--gateway`` as ``yard rollout`` does (``--url``: a hidden,
deprecated alias), and its ``--json`` gives the version as a number, like the body's own."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from modelyard.errors import UsageError
from tests.unit.serving.echo_upstream import running_echo_upstream
from yard.main import app


@pytest.fixture(scope="module")
def upstream() -> str:
    """A real HTTP server answering like a transformer of version 7 (``x-modelyard-version: 7``)."""
    with running_echo_upstream(version_header="7") as (url, _):
        yield url


def test_gateway_flag_and_json_version_is_a_number(upstream: str) -> None:
    result = CliRunner().invoke(app, ["query", "moderation", "--text", "hi", "--gateway", upstream, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["version"] == 7 and answer["model"] == "moderation"


def test_url_still_works_with_a_warning_and_is_hidden_from_help(upstream: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["query", "ranking", "--user", "1", "--url", upstream, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == 7
    assert "--url is deprecated; use --gateway" in result.stderr
    shown = runner.invoke(app, ["query", "ranking", "--help"], env={"COLUMNS": "120"})
    assert "--gateway" in shown.stdout and "--url" not in shown.stdout


def test_both_names_at_once_is_a_usage_error(upstream: str) -> None:
    result = CliRunner().invoke(
        app, ["query", "ranking", "--user", "1", "--url", upstream, "--gateway", upstream]
    )
    assert isinstance(result.exception, UsageError)
