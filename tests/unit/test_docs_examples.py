"""The docs' examples are classified by a listed rule (tests/docs_examples.py), and every command
of a ``synopsis`` block exists in the real ``yard`` with every flag it names.

The runnable blocks run against a live stack in tests/integration/test_docs_examples.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from tests.docs_examples import CLUSTER, KINDS, ROOT, RUN, SYNOPSIS, blocks, examples, yard_commands
from yard.main import app

_FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def test_every_example_is_run_or_skipped_by_its_listed_rule() -> None:
    found = [block for block in blocks() if block.kind is not None]
    unknown = [(b.where, b.attributes) for b in found if set(b.attributes) - set(KINDS)]
    assert not unknown, f"info-string words must be one of {KINDS}: {unknown}"
    needs_cluster = [b.where for b in found if b.kind == RUN and b.tools & {"kubectl", "helm"}]
    assert not needs_cluster, f"blocks that call kubectl/helm must be marked `{CLUSTER}`: {needs_cluster}"
    runnable = {b.where.split(":")[0] for b in examples(RUN)}
    assert {"README.md", "docs/api.md"} <= runnable  # the extractor still sees the examples people copy


def test_the_extractor_reads_fences_info_strings_and_indented_blocks(tmp_path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```bash\nyard query ranking --user 1\n```\n"
        "- item\n\n  ```sh cluster\n  kubectl get pods\n  ```\n"
        '```json\n{"modelyard": "yard"}\n```\n'
    )
    found = list(blocks((doc,)))
    assert [(b.line, b.language, b.attributes, b.kind) for b in found] == [
        (2, "bash", (), RUN),
        (7, "sh", ("cluster",), CLUSTER),
        (10, "json", (), None),
    ]
    assert found[1].text == "kubectl get pods"


def test_synopsis_lines_split_into_commands() -> None:
    text = "yard a [--x]; yard b NAME   # note\nyard c {p|q} [--y]\n       [--z N]\n"
    assert list(yard_commands(text)) == ["yard a [--x]", "yard b NAME", "yard c {p|q} [--y] [--z N]"]


def _synopsis_commands() -> list[tuple[str, str]]:
    return [(block.where, command) for block in examples(SYNOPSIS) for command in yard_commands(block.text)]


@pytest.mark.parametrize(("where", "command"), _synopsis_commands(), ids=lambda value: str(value)[:60])
def test_a_synopsis_names_real_commands_and_flags(where: str, command: str) -> None:
    target, path = _resolve(command.split()[1:])
    known = {name for param in target.params for name in (*param.opts, *param.secondary_opts)}
    flags = set(_FLAG.findall(command.split(" ".join(path), 1)[1] if path else command))
    assert not flags - known, f"{where}: `{command}`: no {sorted(flags - known)} on yard {' '.join(path)}"


def _resolve(tokens: list[str]) -> tuple[Any, list[str]]:
    """The deepest command the leading words name (a group's sub-commands are walked; typer
    vendors its own click, so groups are told by their ``commands``)."""
    command = typer.main.get_command(app)
    path: list[str] = []
    for token in tokens:
        if token not in getattr(command, "commands", {}):
            break
        command = command.commands[token]
        path.append(token)
    assert path or tokens[0].startswith(("-", "[")), f"`yard {' '.join(tokens)}` names no yard command"
    return command, path


def test_the_root_help_lists_what_the_synopsis_shows() -> None:
    synopsis = " ".join(command for _, command in _synopsis_commands())
    groups = typer.main.get_command(app).commands
    missing = [name for name in groups if f"yard {name}" not in synopsis]
    assert not missing, f"README's CLI synopsis leaves out: {missing} ({ROOT / 'README.md'})"
