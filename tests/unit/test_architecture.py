"""The import graph follows the data flow: environment -> config -> PostgreSQL -> seed -> stream -> CDC.

Every module of ``daemon/`` is parsed with ``ast`` (nothing is imported), so an import inside a
function counts as much as one at the top of the file.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "daemon"
MAX_LINES = 400  # STYLE.md: modules of 40-400 lines

# Where each module belongs: a sub-package, or the top-level module itself.
CONFIG = {"config", "catalogue"}  # the settings catalogue and its parser
BASE = CONFIG | {"errors", "signals"}
ALLOWED = {
    "data": {"data"},
    "pg": {"pg", "data"} | BASE,
    "seed": {"seed", "data", "pg"} | BASE,
}
ENTRY_IMPORTERS = {"__main__": set(), "cli": {"__main__"}, "app": {"cli"}, "commands": {"cli"}}
LEDGER_RECORD = "daemon.cdc.ledger"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(node: ast.ImportFrom, importer: str) -> str:
    """The absolute module an ``import from`` names (relative imports included)."""
    if not node.level:
        return node.module or ""
    is_package = modules()[importer].name == "__init__.py"
    base = importer.split(".")[: len(importer.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def imports_of(name: str) -> frozenset[str]:
    """The daemon modules ``name`` imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(modules()[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = resolve(node, name)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules() else target)
    return frozenset(m for m in found if m in modules() and m != name)


def area(name: str) -> str:
    """``daemon.pg.schema`` -> ``pg``; ``daemon.cli`` -> ``cli``; ``daemon`` -> ``daemon``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def edges() -> list[tuple[str, str]]:
    return [(importer, imported) for importer in modules() for imported in sorted(imports_of(importer))]


def test_the_graph_is_read():
    assert "daemon.pg.schema" in modules() and "daemon.stream.kinds.base" in modules()
    assert "daemon.pg.sqlfiles" in imports_of("daemon.pg.schema")
    assert LEDGER_RECORD in imports_of("daemon.stream.writer")


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_import_only_what_lies_below(layer):
    wrong = [
        f"{importer} imports {imported}"
        for importer, imported in edges()
        if area(importer) == layer and area(imported) not in ALLOWED[layer]
    ]
    assert not wrong, wrong


def test_stream_and_cdc_share_only_the_ledger_record():
    wrong = [
        f"{importer} imports {imported}"
        for importer, imported in edges()
        if (area(importer), area(imported)) == ("cdc", "stream")
        or ((area(importer), area(imported)) == ("stream", "cdc") and imported != LEDGER_RECORD)
    ]
    assert not wrong, wrong


def test_entry_points_are_imported_only_from_above():
    wrong = [
        f"{importer} imports {imported}"
        for importer, imported in edges()
        if area(imported) in ENTRY_IMPORTERS and area(importer) not in ENTRY_IMPORTERS[area(imported)]
    ]
    assert not wrong, wrong


def test_no_import_cycles():
    graph = {name: imports_of(name) - {"daemon"} for name in modules()}  # daemon/__init__ holds only the version
    cycles: list[list[str]] = []
    state: dict[str, str] = {}  # "active" while on the DFS path, "done" after

    def visit(name: str, path: list[str]) -> None:
        state[name] = "active"
        for imported in sorted(graph[name]):
            if state.get(imported) == "active":
                cycles.append(path[path.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, [" -> ".join(c) for c in cycles]


def test_modules_stay_small():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, too_long
