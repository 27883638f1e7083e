"""``yard`` prints a ModelyardError's message and hint verbatim, whatever brackets they hold."""

from __future__ import annotations

import importlib

import pytest

from modelyard.errors import UsageError

cli_main = importlib.import_module("yard.main")  # the package re-exports main() under this name


def test_brackets_in_an_error_are_printed_not_parsed_as_markup(monkeypatch, capsys) -> None:
    def broken(standalone_mode: bool) -> None:
        raise UsageError("bad value [/etc/x] in --route", hint="pass [bold]name=url[/bold]")

    monkeypatch.setattr(cli_main, "app", broken)
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == UsageError.exit_code
    err = capsys.readouterr().err
    assert "bad value [/etc/x] in --route" in err and "pass [bold]name=url[/bold]" in err
