"""`python -m daemon verify`: reconcile Debezium's change events with the ledger and the tables.

Missing (committed but never delivered), duplicated (delivered more than once: allowed after a
crash, since Debezium is at-least-once, but reported) and unexpected (delivered, not in the
ledger) changes per table, operation and txid; transactions that arrived in part, or without
their BEGIN/END (:mod:`daemon.cdc.transactions`); then the final state each event stream
implies, compared row by row with the live tables (:mod:`daemon.cdc.values`).

Snapshot credit: a ledger change that never arrived as a change event is credited to the
connector's initial snapshot only when it committed before it. The snapshot runs in one
repeatable-read transaction whose xid is every snapshot read's ``source.txId``; a change is
credited when its xid precedes that one, no event of its transaction was streamed (a transaction
still open when the snapshot began is streamed, not read) and the snapshot read its row — or,
for a row deleted before the snapshot, the delete precedes the snapshot too.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from psycopg2 import sql

from daemon.cdc import verify_report
from daemon.cdc.debezium import (
    CHANGES,
    OTHER_KINDS,
    UNAVAILABLE,
    XID_MOD,
    ChangeEvent,
    EventFormatError,
    read_events,
    xid32,
    xid_precedes,
)
from daemon.cdc.ledger import read_ledger
from daemon.cdc.transactions import ChangeKey, TransactionCheck, check_transactions
from daemon.cdc.values import Placeholder, same_value
from daemon.config import Config
from daemon.pg import connection
from daemon.pg.connection import Cursor
from daemon.pg.tables import TABLES

__all__ = ["UNAVAILABLE", "XID_MOD", "ChangeKey", "final_states", "reconcile", "run_verify", "same_value"]


class TableOp(NamedTuple):
    table: str | None  # None: an event that names no table
    op: str  # insert | update | delete


class RowKey(NamedTuple):
    table: str | None
    pk: int | None


class Origin(NamedTuple):
    """The event that set a value: its operation, 32-bit txid and line in the dump."""

    op: str
    txid: int | None
    line: int


class Difference(NamedTuple):
    """A column whose live value differs from the value the events imply (``*``: the row itself)."""

    table: str
    pk: int | None
    column: str
    live: object
    event: object
    origin: Origin | None = None


@dataclass
class Row:
    values: dict[str, Any]
    origins: dict[str, Origin]
    fields: dict[str, dict] | None


@dataclass
class Reconciliation:
    ledger: Counter[TableOp] = field(default_factory=Counter)
    captured: Counter[TableOp] = field(default_factory=Counter)
    missing: Counter[TableOp] = field(default_factory=Counter)
    duplicated: Counter[TableOp] = field(default_factory=Counter)
    unexpected: Counter[TableOp] = field(default_factory=Counter)
    in_snapshot: Counter[TableOp] = field(default_factory=Counter)  # changes credited to snapshot reads
    missing_keys: list[ChangeKey] = field(default_factory=list)
    duplicated_keys: list[ChangeKey] = field(default_factory=list)
    unexpected_keys: list[ChangeKey] = field(default_factory=list)
    reads: Counter[str] = field(default_factory=Counter)  # initial | incremental
    snapshot_txids: list[int] = field(default_factory=list)
    other: Counter[str] = field(default_factory=Counter)  # records that are not row changes, by kind
    tombstones: int = 0
    deletes: int = 0
    transactions: TransactionCheck = field(default_factory=TransactionCheck)

    @property
    def missing_examples(self) -> list[ChangeKey]:
        return self.missing_keys[:20]


@dataclass
class StateCheck:
    rows: int = 0
    differences: list[Difference] = field(default_factory=list)
    unavailable: int = 0


def _key(table: str | None, op: str, pk: int | None, txid: object) -> ChangeKey:
    return ChangeKey(table, op, pk, xid32(txid))


class _Snapshot:
    """Which ledger changes the initial snapshot may stand for (see the module docstring)."""

    def __init__(self, events: list[ChangeEvent], changes: list[ChangeEvent]) -> None:
        self.read: dict[RowKey, set[int]] = {}
        for e in events:
            if e.snapshot_kind == "initial" and e.txid is not None:
                self.read.setdefault(RowKey(e.table, e.pk), set()).add(xid32(e.txid) or 0)
        self.txids = sorted({x for xs in self.read.values() for x in xs})
        self.streamed_txids = {xid32(e.txid) for e in changes}
        self.streamed_rows = {RowKey(e.table, e.pk) for e in changes}

    def precedes(self, txid: int, snapshots: Iterable[int]) -> bool:
        return any(xid_precedes(txid, s) for s in snapshots)

    def credits(self, key: ChangeKey, deleted_by: dict[RowKey, int]) -> bool:
        if key.txid is None or not self.txids or key.txid in self.streamed_txids:
            return False
        row = RowKey(key.table, key.pk)
        if row in self.read:
            return key.op != "delete" and self.precedes(key.txid, self.read[row])
        gone = deleted_by.get(row)  # never read: deleted before the snapshot, or nothing to credit
        return (
            gone is not None
            and row not in self.streamed_rows
            and self.precedes(gone, self.txids)
            and self.precedes(key.txid, self.txids)
        )


def reconcile(events: list[ChangeEvent], ledger: Iterable[dict[str, Any]] | None) -> Reconciliation:
    result = Reconciliation()
    changes = [e for e in events if e.op in CHANGES]
    result.reads = Counter(e.snapshot_kind for e in events if e.snapshot_kind)
    result.other = Counter(e.op for e in events if e.op in OTHER_KINDS)
    result.tombstones = sum(e.op == "tombstone" for e in events)
    result.deletes = sum(e.op == "delete" for e in events)
    for e in changes:
        result.captured[TableOp(e.table, e.op)] += 1
    snapshot = _Snapshot(events, changes)
    result.snapshot_txids = snapshot.txids
    if ledger is None:
        return result
    entries = list(ledger)
    use_txid = all(e.get("txid") is not None for e in entries) and all(e.txid is not None for e in changes)
    expected = Counter(_key(e["table"], e["op"], e["pk"], e["txid"] if use_txid else None) for e in entries)
    got = Counter(_key(e.table, e.op, e.pk, e.txid if use_txid else None) for e in changes)
    deleted_by = {RowKey(k.table, k.pk): k.txid for k in expected if k.op == "delete" and k.txid is not None}
    missing: Counter[ChangeKey] = Counter()
    credited: list[ChangeKey] = []
    for key, n in sorted(expected.items(), key=lambda kv: repr(kv[0])):
        table_op = TableOp(key.table, key.op)
        result.ledger[table_op] += n
        seen = got.get(key, 0)
        if seen < n and snapshot.credits(key, deleted_by):
            result.in_snapshot[table_op] += n - seen
            credited.append(key)
        elif seen < n:
            result.missing[table_op] += n - seen
            missing[key] += n - seen
            result.missing_keys.extend([key] * (n - seen))
        elif seen > n:
            result.duplicated[table_op] += seen - n
            result.duplicated_keys.extend([key] * (seen - n))
    for key, n in sorted(got.items(), key=lambda kv: repr(kv[0])):
        if key not in expected:
            result.unexpected[TableOp(key.table, key.op)] += n
            result.unexpected_keys.extend([key] * n)
    if use_txid:
        result.transactions = check_transactions(events, expected, missing, credited)
    return result


def replay(events: list[ChangeEvent], placeholder: Placeholder | None = None) -> dict[RowKey, Row | None]:
    """Each row after its last event (None when deleted), as a sink applying the events would hold it.

    A placeholder (unchanged TOASTed value) keeps the value the row had, when an earlier event
    carried it; otherwise the placeholder stays, to be counted as unavailable.
    """
    placeholder = placeholder or Placeholder()
    state: dict[RowKey, Row | None] = {}
    for e in events:
        row_key = RowKey(e.table, e.pk)
        if e.op == "delete":
            state[row_key] = None
        elif e.op in ("insert", "update", "read") and e.after is not None:
            origin = Origin(e.op, xid32(e.txid), e.line)
            previous = state.get(row_key)
            row = Row({}, {}, e.fields or (previous.fields if previous else None))
            for column, value in e.after.items():
                if placeholder.matches(value) and previous is not None and column in previous.values:
                    row.values[column], row.origins[column] = previous.values[column], previous.origins[column]
                else:
                    row.values[column], row.origins[column] = value, origin
            state[row_key] = row
    return state


def final_states(events: list[ChangeEvent], placeholder: Placeholder | None = None) -> dict[RowKey, dict | None]:
    """Each row's column values after its last event (None when the last event deleted it)."""
    return {key: None if row is None else row.values for key, row in replay(events, placeholder).items()}


def compare_state(cur: Cursor, events: list[ChangeEvent], placeholder: Placeholder | None = None) -> StateCheck:
    placeholder = placeholder or Placeholder()
    check = StateCheck()
    by_table: dict[str, dict[int | None, Row | None]] = {}
    last: dict[RowKey, Origin] = {RowKey(e.table, e.pk): Origin(e.op, xid32(e.txid), e.line) for e in events}
    for (table, pk), row in replay(events, placeholder).items():
        if table in TABLES:  # else not ours (e.g. a heartbeat table): nothing to compare with
            by_table.setdefault(table, {})[pk] = row
    for table, rows in sorted(by_table.items()):
        cur.execute(sql.SQL("SELECT * FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table)), (list(rows),))
        columns = [d[0] for d in cur.description or ()]
        live = {r[0]: dict(zip(columns, r)) for r in cur.fetchall()}
        for pk, row in rows.items():
            check.rows += 1
            actual = live.get(pk)
            if row is None or actual is None:
                if (row is None) != (actual is None):
                    check.differences.append(
                        Difference(
                            table,
                            pk,
                            "*",
                            "present" if actual else "absent",
                            "present" if row else "deleted",
                            last.get(RowKey(table, pk)),
                        )  # fmt: skip
                    )
                continue
            for column, value in actual.items():
                got = row.values.get(column)
                if placeholder.matches(got):
                    check.unavailable += 1
                elif not same_value(value, got, (row.fields or {}).get(column)):
                    check.differences.append(Difference(table, pk, column, value, got, row.origins.get(column)))
    return check


def run_verify(
    config: Config | None,
    events_path: str,
    *,
    ledger_path: Path | None = None,
    live: bool = True,
    strict: bool = False,
    as_json: bool = False,
    placeholder: str = UNAVAILABLE,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """Exit 0 when nothing is missing (and, with ``strict``, nothing duplicated or unexpected).

    ``events_path`` ``-`` reads stdin; ``live`` compares the final state with the tables (needs
    ``config``); without ``ledger_path`` only the events are counted. ``as_json`` prints the
    report as one JSON document; ``placeholder`` is the connector's ``unavailable.value.placeholder``.
    ``stdin``/``out`` default to the process's.
    """
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    try:
        marker = Placeholder(placeholder)
        if events_path == "-":
            events = list(read_events(stdin))
        else:
            with open(events_path, encoding="utf-8") as handle:
                events = list(read_events(handle))
        ledger = list(read_ledger(ledger_path)) if ledger_path is not None else None
    except (OSError, EventFormatError, ValueError) as exc:
        if as_json:
            verify_report.print_json_error(out, str(exc))
        else:
            print(f"verify: {exc}", file=out)
        return 2
    rec = reconcile(events, ledger)
    state: StateCheck | None = None
    if live and config is not None:
        conn = connection.connect(config.pg, "verify")
        try:
            with connection.transaction(conn) as cur:
                state = compare_state(cur, events, marker)
        finally:
            connection.close_quietly(conn)
    bad = verify_report.failures(rec, state, strict)
    if as_json:
        verify_report.print_json(out, rec, state, ledger is not None, bad)
    else:
        verify_report.print_report(out, rec, state, ledger is not None, bad)
    return 0 if bad == 0 else 1
