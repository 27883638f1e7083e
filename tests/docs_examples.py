"""The code blocks of README.md and docs/*.md that talk to modelyard, and how each is checked.

A fenced block is an *example* when it is shell (language ``bash``, ``sh``, ``shell``, ``console``
or none; a diagram is ``text``) and one of its commands is ``curl``, ``yard``, ``kubectl`` or
``helm``. Words after the language in its info string say how it is checked (GitHub shows only the
language):

- (none): **run** against a live local stack, in order, as one bash script (``set -euo pipefail``;
  ``curl`` fails on any non-2xx). The stack is the one ``make demo`` and ``yard serve`` start:
  ``localhost:8080`` is the gateway and ``.modelyard/`` the state dir.
- ``synopsis``: a grammar (``[optional]``, ``{a|b}``, ``NAME``), not a command line: every ``yard``
  command in it must exist with every flag it names (tests/unit/test_docs_examples.py).
- ``cluster``: needs Kubernetes, a container engine or an S3 store: reported as skipped, by name.

Any other example (e.g. a runnable block that calls kubectl) fails the unit test, so a new block
is never left out silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
RUN, SYNOPSIS, CLUSTER = "run", "synopsis", "cluster"
KINDS = (SYNOPSIS, CLUSTER)
SHELLS = ("bash", "sh", "shell", "console", "")
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_COMMAND = re.compile(r"(?:^\s*|[;&|(]\s*|\$\(\s*)(?P<tool>curl|yard|kubectl|helm)\b")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a doc file."""

    path: Path
    line: int
    """Line of the opening fence (1-based)."""
    language: str
    attributes: tuple[str, ...]
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def tools(self) -> set[str]:
        """The modelyard-facing commands it runs (comments ignored)."""
        return {m["tool"] for line in _code_lines(self.text) for m in _COMMAND.finditer(line)}

    @property
    def kind(self) -> str | None:
        """None: not an example; else RUN, SYNOPSIS or CLUSTER."""
        if self.language not in SHELLS or not self.tools:
            return None
        marked = [a for a in self.attributes if a in KINDS]
        return marked[0] if marked else RUN


def blocks(paths: tuple[Path, ...] = DOC_FILES) -> Iterator[Block]:
    """Every fenced block of ``paths``, in document order."""
    for path in paths:
        lines = path.read_text().splitlines()
        index = 0
        while index < len(lines):
            opening = _FENCE.match(lines[index])
            if opening is None:
                index += 1
                continue
            fence, indent = opening["fence"], len(opening["indent"])
            words = opening["info"].split()
            body: list[str] = []
            start = index + 1
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(fence):
                body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
                index += 1
            yield Block(path, start, words[0] if words else "", tuple(words[1:]), "\n".join(body))
            index += 1


def examples(kind: str) -> list[Block]:
    return [block for block in blocks() if block.kind == kind]


def yard_commands(text: str) -> Iterator[str]:
    """Each ``yard ...`` command of a synopsis: continuation lines joined, ``;`` splits, comments cut."""
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip().removesuffix("\\")
        if not line.strip():
            continue
        if line[0].isspace() and current:
            current.append(line.strip())
            continue
        if current:
            yield " ".join(current)
        current = []
        for part in line.split(";"):
            if part.strip().startswith("yard "):
                if current:
                    yield " ".join(current)
                current = [part.strip()]
    if current:
        yield " ".join(current)


def _code_lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        code = line.split(" #", 1)[0]
        if not code.lstrip().startswith("#"):
            yield code
