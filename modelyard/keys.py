"""Secrets kept in files: the gateway's client and admin keys, Triton's restricted-API key.

A server reads its key from a setting, else from its file, else creates the file (mode 0600,
never readable by others, not even briefly); a client on the same machine reads the same file.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from modelyard.errors import NotFoundError, UsageError
from modelyard.logs import event

log = logging.getLogger(__name__)


def resolve_key(configured: SecretStr | None, key_file: Path) -> SecretStr:
    """The configured key, else the one in ``key_file``, else a new one written there (0600)."""
    if configured is not None and configured.get_secret_value():
        return configured
    if key_file.exists():
        return _read_key_file(key_file)
    return new_key_file(key_file)


def new_key_file(key_file: Path) -> SecretStr:
    """A fresh random key in a new ``key_file`` (0600); an existing file is replaced."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)
    key = secrets.token_urlsafe(32)
    # O_EXCL + mode at creation: the key is never readable by others, not even briefly.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    event(log, "key_file_created", path=str(key_file))
    return SecretStr(key)


def read_key(
    configured: SecretStr | None, key_file: Path, required: bool, what: str, variable: str | None = None
) -> str | None:
    """A client's copy of a server's ``what`` (e.g. "API key"): ``configured`` (the setting
    ``variable``), else the file."""
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value()
    if key_file.is_file():
        return key_file.read_text().strip() or None
    if required:
        also = f", or set {variable}" if variable else ""
        hint = f"the server writes it when it starts (yard serve){also}"
        raise NotFoundError(f"no {what} at {key_file}", hint=hint)
    return None


def _read_key_file(key_file: Path) -> SecretStr:
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        event(log, "key_file_too_open", logging.WARNING, path=str(key_file), mode=oct(mode))
    key = key_file.read_text().strip()
    if not key:
        raise UsageError(f"key file {key_file} is empty", hint=f"delete {key_file} to generate a new key")
    return SecretStr(key)
