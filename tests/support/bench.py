"""The benchmarks' modules under test: ``bench/`` on the import path, and what their checks count."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
INSERTED = ("pacientes", "consultas", "exames", "internacoes", "pacientes_convenios")
# Rows of the tables insert events write to: an insert-only run adds one per event.
ROWS = "SELECT " + " + ".join(f"(SELECT count(*) FROM {table})" for table in INSERTED)


def import_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``bench/`` importable for this test (the benchmarks import their helpers as top-level
    modules), without leaving bytecode caches in the tree."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
