"""The ``yard`` command line: one typer app, one sub-app per concern."""

from modelyard.cli.main import app, main

__all__ = ["app", "main"]
