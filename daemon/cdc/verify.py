"""`python -m daemon verify`: reconcile Debezium's change events with the ledger and the tables.

Missing (committed but never delivered), duplicated (delivered more than once: allowed after a
crash, since Debezium is at-least-once, but reported) and unexpected (delivered, not in the
ledger) changes per table, operation and txid; transactions that arrived in part, or without
their BEGIN/END (:mod:`daemon.cdc.transactions`); then the final state each event stream
implies, compared row by row with the live tables (:mod:`daemon.cdc.values`). Truncates,
logical decoding messages and partitions: :mod:`daemon.cdc.verify_edges`; schema changes made
while streaming: :mod:`daemon.cdc.verify_ddl`.

Snapshot credit: see :mod:`daemon.cdc.reconcile`.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from psycopg2 import sql

from daemon.cdc import verify_ddl, verify_edges, verify_report, verify_types
from daemon.cdc.debezium import UNAVAILABLE, XID_MOD, ChangeEvent, EventFormatError, read_events, xid32
from daemon.cdc.ledger import ledger_from_table, read_ledgers
from daemon.cdc.reconcile import ChangeKey, Difference, Origin, Reconciliation, RowKey, StateCheck, reconcile
from daemon.cdc.values import Placeholder, same_value
from daemon.config import Config
from daemon.pg import connection
from daemon.pg.connection import Cursor
from daemon.pg.tables import TABLES

__all__ = [
    "UNAVAILABLE",
    "XID_MOD",
    "ChangeKey",
    "Reconciliation",
    "final_states",
    "reconcile",
    "run_verify",
    "same_value",
]


@dataclass
class Row:
    values: dict[str, Any]
    origins: dict[str, Origin]
    fields: dict[str, dict] | None


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
        elif e.op == "truncate":  # every row of the table ends here, without delete events
            state.update({key: None for key in state if key.table == e.table})
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


def compare_state(
    cur: Cursor,
    events: list[ChangeEvent],
    placeholder: Placeholder | None = None,
    extra_tables: Collection[str] = (),
    added: Mapping[str, Mapping[str, object]] | None = None,
) -> StateCheck:
    """``extra_tables``: opt-in tables compared too (``verify_edges.compared``). ``added``: table ->
    column -> default of the columns the ledger's DDL added (``verify_ddl.DdlCheck.added_defaults``):
    a row whose events never carried one (its last event preceded the ADD COLUMN) must hold the
    default. A dropped column is absent from the live row, so the values events carried for it are
    never compared."""
    placeholder = placeholder or Placeholder()
    added = added or {}
    check = StateCheck()
    by_table: dict[str, dict[int | None, Row | None]] = {}
    last: dict[RowKey, Origin] = {RowKey(e.table, e.pk): Origin(e.op, xid32(e.txid), e.line) for e in events}
    for (table, pk), row in replay(events, placeholder).items():
        # ours only: a heartbeat table's rows, say, have nothing to be compared with
        if table is not None and (table in TABLES or table in extra_tables or table in verify_types.COMPARED_EXTRAS):
            by_table.setdefault(table, {})[pk] = row
    time_precision = verify_types.time_mode(events)
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
                if column not in row.values and column in added.get(table, {}):
                    default = added[table][column]
                    if verify_ddl.matches_default(value, default):
                        check.defaults += 1
                    else:
                        check.differences.append(
                            Difference(table, pk, column, value, default, last.get(RowKey(table, pk)))
                        )
                elif placeholder.matches(got):
                    check.unavailable += 1
                elif not same_value(value, got, field := (row.fields or {}).get(column)):
                    if loss := verify_types.known_loss(value, got, field, time_precision):
                        verify_types.count_loss(check.losses, table, column, loss)
                    else:
                        check.differences.append(Difference(table, pk, column, value, got, row.origins.get(column)))
    return check


def run_verify(
    config: Config | None,
    events_path: str,
    *,
    ledger_path: Path | Sequence[Path] | None = None,
    ledger_table: str | None = None,
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
        paths = [ledger_path] if isinstance(ledger_path, Path) else list(ledger_path or ())
        ledger = read_ledgers(paths) if paths else None
        if ledger is None and ledger_table and config is not None:
            ledger = ledger_from_table(config, ledger_table)
    except (OSError, EventFormatError, ValueError) as exc:
        if as_json:
            verify_report.print_json_error(out, str(exc))
        else:
            print(f"verify: {exc}", file=out)
        return 2
    events, ledger, edges = verify_edges.split(events, ledger, verify_edges.publication_via_root(config, live))
    ledger, ddl = verify_ddl.split(events, ledger)
    rec = reconcile(events, ledger, marker)
    verify_edges.settle(rec, edges, events)
    verify_ddl.settle(rec, ddl)
    state: StateCheck | None = None
    if live and config is not None:
        conn = connection.connect(config.pg, "verify")
        try:
            with connection.transaction(conn) as cur:
                verify_types.prepare(cur)
                state = compare_state(cur, events, marker, verify_edges.compared(edges), ddl.added_defaults())
        finally:
            connection.close_quietly(conn)
    bad = verify_report.failures(rec, state, strict) + edges.failures(strict) + ddl.failures(strict)
    if as_json:
        extra = {"edges": edges.as_dict(), "ddl": ddl.as_dict()}
        verify_report.print_json(out, rec, state, ledger is not None, bad, extra=extra)
    else:
        verify_report.print_report(out, rec, state, ledger is not None, bad, extra_lines=edges.lines() + ddl.lines())
    return 0 if bad == 0 else 1
