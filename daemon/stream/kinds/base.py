"""Stream events: the types every event shares and the helpers they use.

An event applies one change through a cursor and reports it (``Change``), or returns None when
there is nothing to change (e.g. no pending exam). It never commits: the stream runs each event
in its own transaction and records the change only after the commit succeeded. Every DML ends
with ``RETURNING id, txid_current()`` so the ledger can match Debezium's ``source.txId``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from daemon.cdc.ledger import Change
from daemon.data.rows import COLUMNS, HospitalData
from daemon.pg.connection import Cursor, Row, fetch_one
from daemon.stream.idpool import IdPool

OPS = ("insert", "update", "delete")


@dataclass
class EventContext:
    """What an event needs: generators anchored at 'now', the ids it may reference, settings."""

    data: HospitalData
    ids: IdPool
    rng: random.Random
    retention_days: int = 90
    toast_share: float = 0.25

    def refresh_clock(self) -> None:
        self.data.retarget(datetime.now(UTC))


@dataclass(frozen=True)
class EventKind:
    name: str  # the key used in STREAM_*_WEIGHTS
    table: str
    op: str
    needs: tuple[str, ...]  # referenced tables that must have rows for the event to be possible
    apply: Callable[[EventContext, Cursor], Change | None]

    def possible(self, ids: IdPool) -> bool:
        return all(ids.has(table) for table in self.needs)


def returning(cur: Cursor, table: str, op: str) -> Change | None:
    """Build the Change from a statement's ``RETURNING id, txid_current()`` row (None: no row)."""
    row = cur.fetchone()
    return None if row is None else Change(table, op, int(row[0]), int(row[1]))


def insert_row(cur: Cursor, table: str, row: Row, explicit_id: bool = True) -> Change:
    """INSERT a generated row; without ``explicit_id`` the sequence assigns the id (one round trip less)."""
    columns = COLUMNS[table]
    if not explicit_id:
        columns, row = columns[1:], row[1:]
    placeholders = ", ".join(["%s"] * len(columns))
    cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id, txid_current()", row)
    change = returning(cur, table, "insert")
    assert change is not None
    return change


def next_id(cur: Cursor, table: str) -> int:
    cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", (table,))
    return int(fetch_one(cur)[0])


def pick_id(cur: Cursor, table: str, condition: str, rng: random.Random, params: tuple[object, ...] = ()) -> int | None:
    """A random row matching ``condition`` (our own SQL, never user input), locked for this transaction.

    Starts at a random point of the primary key and wraps around; SKIP LOCKED lets several
    writers pick different rows.
    """
    cur.execute(
        f"SELECT id FROM {table} WHERE ({condition}) AND id >= (SELECT (max(id) * %s)::bigint FROM {table}) "
        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (*params, rng.random()),
    )
    row = cur.fetchone()
    if row is None:
        cur.execute(f"SELECT id FROM {table} WHERE ({condition}) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", params)
        row = cur.fetchone()
    return None if row is None else int(row[0])


def update_row(
    cur: Cursor, table: str, pk: int, assignments: str, guard: str = "TRUE", params: tuple[object, ...] = ()
) -> Change | None:
    """``UPDATE table SET assignments WHERE id = pk AND (guard)`` (our own SQL) and report the change.

    The guard repeats the state the row was picked in, so a row only ever moves forward.
    """
    cur.execute(
        f"UPDATE {table} SET {assignments} WHERE id = %s AND ({guard}) RETURNING id, txid_current()", (*params, pk)
    )
    return returning(cur, table, "update")
