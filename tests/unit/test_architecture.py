"""The floors of the house: every import looks down, no module imports itself round a circle.

Reads every import statement of the tree with ``ast`` (at module level, under ``TYPE_CHECKING``
and inside functions alike), so a lazy import cannot hide an upward arrow or a cycle the way it
hides one from Python at start-up. README.md (Architecture) draws the same floors.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Top floor first. Packages on one floor may not import each other.
FLOORS: list[tuple[str, ...]] = [
    ("bench", "deploy"),
    ("yard",),
    ("loop",),
    ("rollout",),
    ("monitoring",),
    ("serving",),
    ("embeddings",),
    ("training",),
    ("modelyard",),
]
PACKAGES = [package for floor in FLOORS for package in floor]

# Rooms on one floor that must stay independent of each other (a model's code does not reach
# into another model's, the gateway does not import a transformer, and so on).
INDEPENDENT: list[tuple[str, ...]] = [
    ("training.moderation", "training.ranking", "training.visual_search"),
    ("serving.gateway", "serving.transformer", "serving.triton"),
    (
        "serving.transformer.models.moderation",
        "serving.transformer.models.ranking",
        "serving.transformer.models.visual_search",
    ),
    # The registry publishes a version's artifact, so only the data catalog stands apart.
    ("modelyard.data", "modelyard.registry"),
    ("modelyard.data", "modelyard.artifact"),
]


@dataclass(frozen=True)
class Import:
    """One import statement, resolved to the project module it loads."""

    source: str
    target: str
    path: Path
    line: int
    lazy_block: int | None
    """For an import inside a function: the line where its run of imports starts."""

    @property
    def internal(self) -> bool:
        return self.target.split(".")[0] in PACKAGES


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
    }


def _resolve(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest project module that ``name`` is or lies in (``a.b.func`` -> ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _lazy_blocks(tree: ast.Module) -> dict[int, int]:
    """Line of every import inside a function -> line of the first import of its run.

    A run is consecutive import statements in one body: one reason comment covers it.
    """
    blocks: dict[int, int] = {}
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            for body in (getattr(node, field, None) for field in ("body", "orelse", "finalbody")):
                start = None
                for stmt in body if isinstance(body, list) else ():
                    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                        start = start or stmt.lineno
                        blocks[stmt.lineno] = start
                    else:
                        start = None
    return blocks


def collect_imports(modules: dict[str, Path]) -> list[Import]:
    found = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        lazy = _lazy_blocks(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, source, path.name == "__init__.py")
                names = [f"{base}.{alias.name}" for alias in node.names] or [base]
            else:
                continue
            targets = {_owner(name, modules) or name.split(".")[0] for name in names} - {source}
            found += [Import(source, t, path, node.lineno, lazy.get(node.lineno)) for t in sorted(targets)]
    return found


MODULES = project_modules()
ALL_IMPORTS = collect_imports(MODULES)
IMPORTS = [imp for imp in ALL_IMPORTS if imp.internal]


def floor_of(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, floor in enumerate(FLOORS) if top in floor)


def _where(imp: Import) -> str:
    return f"{imp.path.relative_to(ROOT)}:{imp.line} ({imp.source} -> {imp.target})"


def test_the_contract_sees_the_whole_tree() -> None:
    """Guards the test itself: an empty walk would pass every check below."""
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    assert len(IMPORTS) > 300
    assert any(imp.lazy_block for imp in IMPORTS)


def test_every_import_looks_down_a_floor() -> None:
    upward = [
        _where(imp)
        for imp in IMPORTS
        if imp.source.split(".")[0] != imp.target.split(".")[0]
        and floor_of(imp.target) <= floor_of(imp.source)
    ]
    assert not upward, "imports that look up or sideways a floor:\n" + "\n".join(upward)


@pytest.mark.parametrize("rooms", INDEPENDENT, ids=lambda rooms: ",".join(rooms))
def test_independent_rooms_do_not_import_each_other(rooms: tuple[str, ...]) -> None:
    def room(module: str) -> str | None:
        return next((r for r in rooms if module == r or module.startswith(r + ".")), None)

    crossing = [
        _where(imp)
        for imp in IMPORTS
        if room(imp.source) and room(imp.target) and room(imp.source) != room(imp.target)
    ]
    assert not crossing, "\n".join(crossing)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_circle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        # A package's __init__ importing its own modules is how it re-exports them, not a cycle.
        if imp.target.startswith(imp.source + "."):
            continue
        edges[imp.source].add(imp.target)
    assert not _cycles(edges)


def test_imports_inside_functions_say_why() -> None:
    """A lazy import hides a dependency from the reader: it stays only with a one-line reason.

    The reason is a comment on the line above the run of imports, or at the end of the line.
    """
    silent = set()
    source_lines = {path: path.read_text().splitlines() for path in MODULES.values()}
    for imp in ALL_IMPORTS:
        if imp.lazy_block is None:
            continue
        lines = source_lines[imp.path]
        if "#" not in lines[imp.line - 1] and not lines[imp.lazy_block - 2].strip().startswith("#"):
            silent.add(f"{imp.path.relative_to(ROOT)}:{imp.line}")
    assert not silent, "imports inside functions without a reason comment:\n" + "\n".join(sorted(silent))


def _defined_names(path: Path) -> set[str]:
    """Names a module binds at its top level, under ``if``/``try``/``with`` too, not inside a def."""
    names: set[str] = set()

    def bind(statements: list[ast.stmt]) -> None:
        for stmt in statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(stmt.name)
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in stmt.names)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            for field in ("body", "orelse", "finalbody"):
                bind(getattr(stmt, field, []))
            for handler in getattr(stmt, "handlers", []):
                bind(handler.body)

    bind(ast.parse(path.read_text()).body)
    return names


def test_every_imported_name_exists() -> None:
    """A lazy ``from x import NAME`` fails only when its path runs; this reads them all now."""
    missing = []
    for source, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _resolve(node, source, path.name == "__init__.py")
            if base not in MODULES:
                continue
            defined = _defined_names(MODULES[base])
            for alias in node.names:
                if alias.name not in defined and f"{base}.{alias.name}" not in MODULES:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {base} has no {alias.name}")
    assert not missing, "\n".join(missing)
