"""Errors that tell the user what to do next.

Every error a user can cause carries a `hint` (the fix) and an `exit_code`, so the CLI
can print one actionable line and scripts can branch on the code.
"""

from __future__ import annotations

from pydantic import ValidationError


class ModelyardError(Exception):
    """Base class: a message plus the command or setting that fixes it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.hint})" if self.hint else self.message


class UsageError(ModelyardError):
    """The user asked for something that cannot exist (bad name, bad number)."""

    exit_code = 2


class NotFoundError(ModelyardError):
    """A named thing (dataset, model, version, alias) does not exist yet."""

    exit_code = 3


class DataError(ModelyardError):
    """A data source is missing or corrupt."""

    exit_code = 4


class UnavailableError(ModelyardError):
    """A backing service (MLflow, Qdrant, Ray, Triton) cannot be reached."""

    exit_code = 5


def validation_summary(exc: ValidationError) -> str:
    """Each error of a pydantic validation as ``field.path: message``, on one line (the messages
    name the rule broken; the input itself is not repeated, however large it was)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}" for error in exc.errors()
    )
