"""The ``yard`` command line: one typer app, one sub-app per concern."""

from yard.main import app, main

__all__ = ["app", "main"]
