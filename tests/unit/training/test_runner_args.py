"""Bad arguments to ``yard train`` / ``yard tune`` fail fast with a clear error and exit code 2,
before any Ray process is started."""

from __future__ import annotations

import sys

import pytest

from modelyard.errors import UsageError
from training.options import TrainOptions
from training.runner import ray_run_name, resolve_config
from training.tasks import TASKS, get_task
from yard.main import main


def run_yard(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["yard", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no-such-model"], "unknown model 'no-such-model'"),
        (["train", "visual-search", "--workers", "0"], "--workers is 0"),
        (["train", "visual-search", "--epochs", "0"], "--epochs is 0"),
        (["train", "ranking", "--batch-size", "-1"], "--batch-size is -1"),
        (["train", "moderation", "--tolerance", "-0.1"], "--tolerance is -0.1"),
        (["tune", "no-such-model"], "unknown model"),
        (["tune", "all"], "tune takes one model"),
        (["tune", "visual-search", "--trials", "0"], "--trials is 0"),
    ],
)
def test_bad_arguments_exit_2_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run_yard(monkeypatch, *args) == UsageError.exit_code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "fix:" in err


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as raised:
        get_task("nope")
    assert all(name in raised.value.hint for name in TASKS)


def test_cli_overrides_replace_the_task_defaults() -> None:
    task = get_task("visual-search")
    config = resolve_config(task, TrainOptions(epochs=1, batch_size=32, overrides={"lr": 0.5}))
    assert (config["epochs"], config["batch_size"], config["lr"]) == (1, 32, 0.5)
    assert config["width"] == task.default_config["width"]
    with pytest.raises(UsageError, match="no config keys"):
        resolve_config(task, TrainOptions(overrides={"not_a_key": 1}))


def test_run_name_is_stable_across_epochs_so_more_epochs_resume() -> None:
    task = get_task("visual-search")
    base = resolve_config(task, TrainOptions())
    assert ray_run_name(task, base, smoke=False) == ray_run_name(task, {**base, "epochs": 99}, smoke=False)
    assert ray_run_name(task, base, smoke=False) != ray_run_name(task, {**base, "lr": 1.0}, smoke=False)
    assert ray_run_name(task, base, smoke=False) != ray_run_name(task, base, smoke=True)
