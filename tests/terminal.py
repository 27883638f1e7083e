"""Run a command under a real pseudo-terminal (python's ``pty``), as a person at a terminal would,
and read what the terminal received."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(
    command: list[str], env: dict[str, str], columns: int = 80, timeout_s: float = 180.0
) -> tuple[int, str]:
    """(exit code, everything written to the terminal: stdout and stderr interleaved, ANSI codes
    and carriage returns left in)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(
        command, stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True
    )
    os.close(secondary)
    received = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: every writer of the terminal is gone
                break
            if not chunk:
                break
            received += chunk
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    return code, received.decode("utf-8", errors="replace")


def screen_lines(output: str) -> list[str]:
    """The output's lines without ANSI codes; a line redrawn with ``\\r`` counts once per drawing."""
    return [part.strip() for line in _ANSI.sub("", output).split("\n") for part in line.split("\r")]


def json_log_lines(output: str) -> list[str]:
    """Lines that are structured log records (a JSON object with an ``event``)."""
    found = []
    for line in screen_lines(output):
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "event" in record:
                found.append(line)
    return found
