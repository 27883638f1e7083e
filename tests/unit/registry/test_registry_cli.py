"""``yard registry`` on the embedded sqlite backend, driven through typer's runner."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from modelyard.errors import NotFoundError, UsageError
from modelyard.registry import Registry
from modelyard.settings import get_settings
from yard.registry import app

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One sqlite state dir per module (creating the database is the slow part), seen by the CLI
    through MODELYARD_STATE_DIR."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELYARD_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        patch.delenv("MODELYARD_MLFLOW_TRACKING_URI", raising=False)
        get_settings.cache_clear()
        yield Registry()
    get_settings.cache_clear()


@pytest.fixture
def model(cli_registry: Registry, log_version, request: pytest.FixtureRequest) -> str:
    """A model of its own for each test: champion v1 (accuracy 0.80), challenger v2 (0.85)."""
    name = request.node.name.removeprefix("test_").replace("_", "-")
    for accuracy in (0.80, 0.85):
        version = log_version(cli_registry, name, "accuracy", accuracy)
        cli_registry.gate(name, version.version, "accuracy", higher_is_better=True)
    return name


def test_list_json_and_table(model: str) -> None:
    listed = runner.invoke(app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    summary = next(s for s in json.loads(listed.stdout) if s["name"] == model)
    assert summary["aliases"] == {"champion": 1, "challenger": 2}
    assert summary["metrics"]["challenger"] == {"accuracy": 0.85}
    table = runner.invoke(app, ["list"]).stdout  # 80 columns: stdout is not a terminal
    assert model in table and "champion v1" in table and "challenger v2" in table and "…" not in table
    assert "accuracy" in table and "0.8000" in table


def test_promote_rollback_and_show(model: str) -> None:
    promoted = runner.invoke(app, ["promote", model])
    assert f"{model}@champion: v1 -> v2" in promoted.stdout
    rolled = runner.invoke(app, ["rollback", model])
    assert f"{model}@champion: v2 -> v1" in rolled.stdout
    shown = json.loads(runner.invoke(app, ["show", model, "--json"]).stdout)
    assert [(v["version"], v["aliases"]) for v in shown] == [(1, ["champion"]), (2, [])]
    assert shown[0]["tags"]["modelyard.dataset_digest"] == "sha256:test"


def test_alias_command_and_its_errors(cli_registry: Registry, model: str) -> None:
    assert runner.invoke(app, ["alias", model, "previous", "1"]).exit_code == 0
    assert cli_registry.resolve(f"{model}@previous").version == 1
    failures = {
        UsageError: ["alias", model, "prod", "1"],
        NotFoundError: ["alias", model, "champion", "7"],
    }
    for error, argv in failures.items():
        assert isinstance(runner.invoke(app, argv).exception, error)
    assert isinstance(runner.invoke(app, ["show", "no-such-model"]).exception, NotFoundError)
