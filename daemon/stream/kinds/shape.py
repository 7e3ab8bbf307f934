"""The shape of ``faturamento`` the stream writes to, read from the catalogue.

With STREAM_DDL_EVERY_SECONDS the table changes under the stream (``daemon.stream.ddl``): columns
are added and dropped, a VARCHAR widened, the status enum given a label. The guia kinds
(``daemon.stream.kinds.faturamento``) fill what the current shape has and nothing else, so the
shape is always the catalogue's: loaded when the stream starts, after each schema change this
daemon makes, and whenever a statement finds a column gone (another replica dropped it: the
writer marks the shape stale and reloads it before its next event).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from daemon.data.guias import TISS_ANTERIOR
from daemon.pg import sqlfiles
from daemon.pg.connection import Connection, Cursor

# What the schema changes (sql/ddl_steps.sql) add, widen and drop.
OBSERVACAO, VERSAO_TISS, SENHA, STATUS = "observacao_auditoria", "versao_tiss", "senha_autorizacao", "status"
VERSAO_DEFAULT = TISS_ANTERIOR  # versao_tiss's default: what the guias already there read
SENHA_WIDTH = (12, 20)  # senha_autorizacao's VARCHAR width before and after it is widened
EM_RECURSO = "em_recurso"  # the status label added: a glosa under appeal


@dataclass(frozen=True)
class Shape:
    columns: frozenset[str] = frozenset()
    widths: Mapping[str, int] = field(default_factory=dict)  # VARCHAR column -> its width
    labels: tuple[str, ...] = ()  # status_guia's labels, in order

    def has(self, column: str) -> bool:
        return column in self.columns

    def width(self, column: str) -> int | None:
        return self.widths.get(column)


def read_shape(cur: Cursor | psycopg.Cursor[Any]) -> Shape:
    """The catalogue's shape of faturamento (an empty Shape when the table does not exist)."""
    cur.execute(sqlfiles.load("faturamento_shape"))
    rows = cur.fetchall()
    columns = {name: width for what, name, width in rows if what == "column"}
    labels = sorted(((order, name) for what, name, order in rows if what == "label"))
    return Shape(
        frozenset(columns),
        {name: int(width) for name, width in columns.items() if width is not None},
        tuple(name for _, name in labels),
    )


class ShapeCache:
    """The shape the writers share: replaced whole (readers never see half an update)."""

    def __init__(self, shape: Shape | None = None) -> None:
        self.current = shape or Shape()
        self._stale = threading.Event()

    def load(self, conn: Connection) -> Shape:
        with conn.cursor() as cur:
            return self.set(read_shape(cur))

    def set(self, shape: Shape) -> Shape:
        self.current = shape
        self._stale.clear()
        return shape

    def mark_stale(self) -> None:
        """A statement found the table changed: reload before the next event."""
        self._stale.set()

    @property
    def stale(self) -> bool:
        return self._stale.is_set()
