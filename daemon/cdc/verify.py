"""`python -m daemon verify`: reconcile Debezium's change events with the ledger and the tables.

Missing (committed but never delivered), duplicated (delivered more than once: allowed after a
crash, since Debezium is at-least-once, but reported) and unexpected (delivered, not in the
ledger) changes per table and operation; then the final state each event stream implies,
compared row by row with the live tables.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from psycopg2 import sql

from daemon.cdc.debezium import UNAVAILABLE, ChangeEvent, EventFormatError, read_events
from daemon.cdc.ledger import read_ledger
from daemon.config import Config
from daemon.pg import connection
from daemon.pg.connection import Cursor
from daemon.pg.tables import TABLES

XID_MOD = 2**32  # Debezium reports the 32-bit xid; txid_current() adds an epoch


class TableOp(NamedTuple):
    table: str | None  # None: an event that names no table
    op: str  # insert | update | delete


class RowKey(NamedTuple):
    table: str | None
    pk: int | None


class ChangeKey(NamedTuple):
    """What identifies a change on both sides (ledger and events); ``txid`` 32-bit or None."""

    table: str | None
    op: str
    pk: int | None
    txid: int | None

    @property
    def table_op(self) -> TableOp:
        return TableOp(self.table, self.op)


class Difference(NamedTuple):
    """A column whose live value differs from the value the events imply (``*``: the row itself)."""

    table: str
    pk: int | None
    column: str
    live: object
    event: object


@dataclass
class Reconciliation:
    ledger: Counter[TableOp] = field(default_factory=Counter)
    captured: Counter[TableOp] = field(default_factory=Counter)
    missing: Counter[TableOp] = field(default_factory=Counter)
    duplicated: Counter[TableOp] = field(default_factory=Counter)
    unexpected: Counter[TableOp] = field(default_factory=Counter)
    missing_examples: list[ChangeKey] = field(default_factory=list)
    reads: int = 0
    tombstones: int = 0
    deletes: int = 0
    in_snapshot: Counter[TableOp] = field(default_factory=Counter)  # changes credited to snapshot reads


@dataclass
class StateCheck:
    rows: int = 0
    differences: list[Difference] = field(default_factory=list)
    unavailable: int = 0


def _key(table: str | None, op: str, pk: int | None, txid: int | None) -> ChangeKey:
    return ChangeKey(table, op, pk, None if txid is None else int(txid) % XID_MOD)


def reconcile(events: list[ChangeEvent], ledger: Iterable[dict[str, Any]] | None) -> Reconciliation:
    result = Reconciliation()
    changes = [e for e in events if e.op in ("insert", "update", "delete")]
    result.reads = sum(e.op == "read" for e in events)
    result.tombstones = sum(e.op == "tombstone" for e in events)
    result.deletes = sum(e.op == "delete" for e in events)
    for e in changes:
        result.captured[TableOp(e.table, e.op)] += 1
    if ledger is None:
        return result
    entries = list(ledger)
    use_txid = all(e.get("txid") is not None for e in entries) and all(e.txid is not None for e in changes)
    expected = Counter(_key(e["table"], e["op"], e["pk"], e["txid"] if use_txid else None) for e in entries)
    got = Counter(_key(e.table, e.op, e.pk, e.txid if use_txid else None) for e in changes)
    read_rows = {RowKey(e.table, e.pk) for e in events if e.op == "read"}
    touched = read_rows | {RowKey(e.table, e.pk) for e in changes}
    deleted = {RowKey(e["table"], e["pk"]) for e in entries if e["op"] == "delete"}
    for key, n in expected.items():
        result.ledger[key.table_op] += n
        seen = got.get(key, 0)
        if seen < n and read_rows and _before_snapshot(key, read_rows, touched, deleted):
            result.in_snapshot[key.table_op] += n - seen
        elif seen < n:
            result.missing[key.table_op] += n - seen
            if len(result.missing_examples) < 20:
                result.missing_examples.append(key)
        elif seen > n:
            result.duplicated[key.table_op] += seen - n
    for key, n in got.items():
        if key not in expected:
            result.unexpected[key.table_op] += n
    return result


def _before_snapshot(key: ChangeKey, read_rows: set[RowKey], touched: set[RowKey], deleted: set[RowKey]) -> bool:
    """A change committed before the connector's initial snapshot arrives as the snapshot read of
    its row, or not at all when the row was deleted before the snapshot too.

    Lost changes after the snapshot still show in the final-state comparison with the tables.
    """
    row = RowKey(key.table, key.pk)
    gone_before = row in deleted and row not in touched
    return gone_before if key.op == "delete" else row in read_rows or gone_before


def final_states(events: list[ChangeEvent]) -> dict[RowKey, dict[str, Any] | None]:
    """Each row's state after its last event (None when the last event deleted it)."""
    state: dict[RowKey, dict[str, Any] | None] = {}
    for e in events:
        if e.op in ("insert", "update", "read") and e.after is not None:
            state[RowKey(e.table, e.pk)] = e.after
        elif e.op == "delete":
            state[RowKey(e.table, e.pk)] = None
    return state


def same_value(live: object, event: object) -> bool:
    if isinstance(live, datetime) and isinstance(event, str):
        try:
            return datetime.fromisoformat(event.replace("Z", "+00:00")) == live
        except ValueError:
            return False
    if isinstance(live, date) and not isinstance(live, datetime) and isinstance(event, int):
        return (live - date(1970, 1, 1)).days == event
    if isinstance(live, str) and isinstance(event, str):
        return live.rstrip() == event.rstrip()
    return live == event


def compare_state(cur: Cursor, events: list[ChangeEvent]) -> StateCheck:
    check = StateCheck()
    by_table: dict[str, dict[int | None, dict[str, Any] | None]] = {}
    for (table, pk), row in final_states(events).items():
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
                        Difference(table, pk, "*", "present" if actual else "absent", "present" if row else "deleted")
                    )
                continue
            for column, value in actual.items():
                got = row.get(column)
                if got == UNAVAILABLE:
                    check.unavailable += 1
                elif not same_value(value, got):
                    check.differences.append(Difference(table, pk, column, value, got))
    return check


def print_report(out: TextIO, rec: Reconciliation, state: StateCheck | None, ledger_used: bool) -> None:
    print(
        f"{sum(rec.captured.values())} change events, {rec.reads} snapshot reads, {rec.tombstones} tombstones", file=out
    )
    if rec.in_snapshot:
        print(
            f"{sum(rec.in_snapshot.values())} ledger changes predate the connector's snapshot and are credited to "
            "its reads (start the ledger after the snapshot for an exact per-change check)",
            file=out,
        )
    header = f"{'table':<22}{'op':<8}{'ledger':>8}{'captured':>10}{'missing':>9}{'duplicated':>12}{'unexpected':>12}"
    print(header, file=out)
    for k in sorted(set(rec.captured) | set(rec.ledger)):
        table, op = k
        ledger_n = str(rec.ledger[k]) if ledger_used else "-"
        print(
            f"{table or '?':<22}{op:<8}{ledger_n:>8}{rec.captured[k]:>10}{rec.missing[k]:>9}"
            f"{rec.duplicated[k]:>12}{rec.unexpected[k]:>12}",
            file=out,
        )
    for key in rec.missing_examples:
        print(f"  missing: {key.table} {key.op} id={key.pk} txid={key.txid}", file=out)
    if rec.tombstones and rec.tombstones < rec.deletes:
        print(f"note: {rec.deletes} deletes but {rec.tombstones} tombstones", file=out)
    if state is not None:
        print(
            f"final state: {state.rows} rows checked against the live tables, {len(state.differences)} differ, "
            f"{state.unavailable} unavailable (unchanged TOAST) values",
            file=out,
        )
        for d in state.differences[:20]:
            print(
                f"  differs: {d.table} id={d.pk} {d.column}: table={str(d.live)[:60]!r} events={str(d.event)[:60]!r}",
                file=out,
            )


def run_verify(
    config: Config | None,
    events_path: str,
    *,
    ledger_path: Path | None = None,
    live: bool = True,
    strict: bool = False,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """Exit 0 when nothing is missing (and, with ``strict``, nothing duplicated or unexpected).

    ``events_path`` ``-`` reads stdin; ``live`` compares the final state with the tables (needs
    ``config``); without ``ledger_path`` only the events are counted. ``stdin``/``out`` default
    to the process's.
    """
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    try:
        if events_path == "-":
            events = list(read_events(stdin))
        else:
            with open(events_path, encoding="utf-8") as handle:
                events = list(read_events(handle))
        ledger = list(read_ledger(ledger_path)) if ledger_path is not None else None
    except (OSError, EventFormatError, ValueError) as exc:
        print(f"verify: {exc}", file=out)
        return 2
    rec = reconcile(events, ledger)
    state: StateCheck | None = None
    if live and config is not None:
        conn = connection.connect(config.pg, "verify")
        try:
            with connection.transaction(conn) as cur:
                state = compare_state(cur, events)
        finally:
            connection.close_quietly(conn)
    print_report(out, rec, state, ledger is not None)
    missing = sum(rec.missing.values())
    bad = missing + (len(state.differences) if state else 0)
    if strict:
        bad += sum(rec.duplicated.values()) + sum(rec.unexpected.values())
    verdict = "OK" if bad == 0 else "FAIL"
    print(
        f"RESULT: {verdict} ({missing} missing, {sum(rec.duplicated.values())} duplicated, "
        f"{sum(rec.unexpected.values())} unexpected)",
        file=out,
    )
    return 0 if bad == 0 else 1
