"""One table for the whole rehearsal, the reasons under it, and the closing ``N passed, N failed``."""

from __future__ import annotations

from dataclasses import dataclass, field

COLUMNS = ("check", "address", "ready", "probes", "memory", "result")


@dataclass(frozen=True)
class Row:
    check: str
    address: str = ""
    ready: str = ""
    probes: str = ""
    memory: str = ""
    passed: bool | None = True
    """True/False counts; None is a note (a stand-in, something not rehearsed)."""
    detail: str = ""

    @property
    def result(self) -> str:
        return {True: "PASS", False: "FAIL", None: "note"}[self.passed]


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    @property
    def passed(self) -> int:
        return sum(row.passed is True for row in self.rows)

    @property
    def failed(self) -> int:
        return sum(row.passed is False for row in self.rows)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"

    def render(self) -> str:
        cells = [COLUMNS] + [
            (row.check, row.address, row.ready, row.probes, row.memory, row.result) for row in self.rows
        ]
        widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
        lines = [
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
            for line in cells
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        notes = [f"  {row.result} {row.check}: {row.detail}" for row in self.rows if row.detail]
        return "\n".join([*lines, "", *notes, "", self.summary()])


def mebibytes(value: int | None) -> str:
    return "" if value is None else f"{value / 2**20:.0f}Mi"
