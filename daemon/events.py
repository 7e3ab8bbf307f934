"""Stream events: each applies one change through a cursor and reports what it changed.

An event never commits: the stream runs each one in its own transaction and records the change
only after the commit succeeded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from daemon.generators import COLUMNS, HospitalData
from daemon.idpool import IdPool


@dataclass(frozen=True)
class Change:
    table: str
    op: str  # insert | update | delete
    pk: int


@dataclass
class EventContext:
    """What an event needs: generators anchored at 'now' and the ids it may reference."""

    data: HospitalData
    ids: IdPool
    rng: random.Random

    def refresh_clock(self) -> None:
        self.data.retarget(datetime.now(UTC))


@dataclass(frozen=True)
class EventKind:
    name: str
    table: str
    op: str
    needs: tuple[str, ...]  # tables that must have rows for the event to be possible
    apply: Callable[[EventContext, object], Change]

    def possible(self, ids: IdPool) -> bool:
        return all(ids.has(table) for table in self.needs)


def _insert(cur, table: str, row: tuple) -> None:
    columns = COLUMNS[table]
    placeholders = ", ".join(["%s"] * len(columns))
    cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", row)


def _next_id(cur, table: str) -> int:
    cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", (table,))
    return cur.fetchone()[0]


def insert_paciente(ctx: EventContext, cur) -> Change:
    pk = _next_id(cur, "pacientes")  # the CPF derives from the id: unique across replicas
    _insert(cur, "pacientes", ctx.data.paciente(pk))
    return Change("pacientes", "insert", pk)


def insert_consulta(ctx: EventContext, cur) -> Change:
    pk = _next_id(cur, "consultas")
    row = ctx.data.consulta(pk, ctx.ids.pick("pacientes", ctx.rng), ctx.ids.pick("medicos", ctx.rng))
    _insert(cur, "consultas", row)
    return Change("consultas", "insert", pk)


def insert_exame(ctx: EventContext, cur) -> Change:
    pk = _next_id(cur, "exames")
    _insert(cur, "exames", ctx.data.exame(pk, ctx.ids.pick("pacientes", ctx.rng)))
    return Change("exames", "insert", pk)


def insert_internacao(ctx: EventContext, cur) -> Change:
    pk = _next_id(cur, "internacoes")
    _insert(cur, "internacoes", ctx.data.internacao(pk, ctx.ids.pick("pacientes", ctx.rng)))
    return Change("internacoes", "insert", pk)


INSERTS: dict[str, EventKind] = {
    "pacientes": EventKind("insert_paciente", "pacientes", "insert", (), insert_paciente),
    "consultas": EventKind("insert_consulta", "consultas", "insert", ("pacientes", "medicos"), insert_consulta),
    "exames": EventKind("insert_exame", "exames", "insert", ("pacientes",), insert_exame),
    "internacoes": EventKind("insert_internacao", "internacoes", "insert", ("pacientes",), insert_internacao),
}
