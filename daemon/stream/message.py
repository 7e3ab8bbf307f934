"""An event's message: its change, the writer's mark and (with LEDGER_TABLE) its ledger rows, one transaction.

Every event's statement (``daemon.stream.kinds``) is wrapped so that the same transaction also
upserts the writer's row in ``hospital_sim_writers`` (the mark that settles an event whose reply
was lost) and, with LEDGER_TABLE, writes the change's ledger row; each returns the changed row's
id and ``txid_current()``. Texts are fixed apart from their parameters, so they are built once.
What a committed message changed is read back from its reply or, when the reply was lost with
the connection, from the writer's row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from daemon.cdc.ledger import Change
from daemon.pg.tables import quoted
from daemon.stream.kinds.base import Floors, Statement


def logged(ledger_table: str | None, source: str, columns: str) -> str:
    """A CTE writing ``source``'s changes into LEDGER_TABLE (nothing without one)."""
    if not ledger_table:
        return ""
    return (
        f", logged AS (INSERT INTO {quoted(ledger_table)} (tbl, op, pk, episode, unchanged_toast) "
        f"SELECT {columns} FROM {source})"
    )


def mark(columns: str, source: str, extra: tuple[str, ...] = ()) -> str:
    """The CTE upserting this writer's row in ``hospital_sim_writers`` (sequence number, id, txid and
    ``extra`` columns) from ``source``'s changes, in the event's own transaction."""
    updated = ("seq", "pk", "txid", *extra)
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    return (
        f"mark AS (INSERT INTO hospital_sim_writers AS w (writer, {', '.join(updated)}) "
        f"SELECT %(_writer)s, %(_seq)s, {columns} FROM {source} "
        f"ON CONFLICT (writer) DO UPDATE SET {assignments}, updated_at = now())"
    )


def compose(statement: Statement, ledger_table: str | None = None) -> str:
    """The event's one statement: its change, plus the writer's mark (``hospital_sim_writers``)
    and, with ``ledger_table``, its ledger row, in the same transaction; returns the changed row's
    id, the transaction id, whether the unchanged column is out of line and, for a pick with a
    floor (``Statement.floor``), the smallest key in the state (:func:`floor_in_reply`)."""
    return _compose(
        statement.table,
        statement.op,
        statement.ctes,
        statement.body,
        statement.unchanged_toast,
        ledger_table,
        statement.floor is not None,
    )


@lru_cache(maxsize=1024)  # a kind's text is fixed apart from its parameters: composed once
def _compose(
    table: str, op: str, ctes: str, body: str, unchanged_toast: str | None, ledger_table: str | None, floor: bool
) -> str:
    with_ctes = f"{ctes}, " if ctes else ""
    toasted = "toasted" if unchanged_toast else "false"
    toast_column = f"ARRAY['{unchanged_toast}']" if unchanged_toast else "NULL::text[]"
    columns = f"'{table}', '{op}', id, NULL, CASE WHEN {toasted} THEN {toast_column} END"
    return (
        f"WITH {with_ctes}change AS ({body}){logged(ledger_table, 'change', columns)}, "
        f"{mark('id, txid_current()', 'change')} "
        f"SELECT id, txid_current(), {toasted}{', (SELECT lo FROM bound)' if floor else ''} FROM change"
    )


def episode_statements(statement: Statement, ledger_table: str | None = None) -> list[str]:
    """An episode's statement (CTEs, the list of its changes kept in the writer's row), then the
    ``then`` statements, which add their changes to that list, then a SELECT of the list."""
    return list(_episode_statements(statement.ctes, statement.body, statement.then, ledger_table))


@lru_cache(maxsize=256)
def _episode_statements(ctes: str, body: str, then: tuple[str, ...], ledger_table: str | None) -> tuple[str, ...]:
    marked = mark(
        "min(id), txid_current(), jsonb_agg(jsonb_build_array(tbl, op, id))",
        "episode HAVING count(*) > 0",
        ("changes",),
    )
    listed = (
        "SELECT e.value->>0 AS tbl, e.value->>1 AS op, (e.value->>2)::bigint AS id "
        "FROM hospital_sim_writers w, jsonb_array_elements(w.changes) WITH ORDINALITY AS e "
        "WHERE w.writer = %(_writer)s AND w.seq = %(_seq)s"
    )
    columns = "tbl, op, id, %(_episode)s, NULL::text[]"
    first = (
        f"WITH {ctes}, episode AS ({body}){logged(ledger_table, 'episode', columns)}, {marked} "
        "SELECT tbl, op, id, txid_current() FROM episode"
    )
    if not then:
        return (first,)
    later = [
        f"WITH episode AS ({listed}), change AS ({then_sql}){logged(ledger_table, 'change', columns)} "
        "UPDATE hospital_sim_writers SET changes = changes || "
        "coalesce((SELECT jsonb_agg(jsonb_build_array(tbl, op, id)) FROM change), '[]'::jsonb) "
        "WHERE writer = %(_writer)s AND seq = %(_seq)s"
        for then_sql in then
    ]
    return (first, *later, f"SELECT tbl, op, id, txid_current() FROM ({listed} ORDER BY e.ordinality) l")


def compose_plain(statement: Statement, ledger_table: str | None = None) -> tuple[str, str]:
    """A change that cannot be a CTE (``Statement.plain``: a TRUNCATE, a logical decoding message)
    and, in a second statement of the same message (PostgreSQL runs one message as one
    transaction), the writer's mark and, with ``ledger_table``, the ledger row with the change's
    ``detail`` (``%(_detail)s``); the second returns pk 0 and the transaction id, as
    :func:`compose` does."""
    logged = (
        f", logged AS (INSERT INTO {quoted(ledger_table)} (tbl, op, pk, detail) "
        "SELECT tbl, op, id, %(_detail)s::jsonb FROM change)"
        if ledger_table
        else ""
    )
    return (
        statement.body,
        f"WITH change AS (SELECT '{statement.table}'::text AS tbl, '{statement.op}'::text AS op, "
        f"0::bigint AS id){logged}, {mark('id, txid_current()', 'change')} "
        "SELECT id, txid_current(), false FROM change",
    )


def message_params(statement: Statement, writer: str, seq: int, episode: str, floors: Floors) -> dict[str, object]:
    """The values of the event's message: the statement's own, the writer's row ``writer`` and
    sequence number (the mark), the episode's name, the pick's floor (``Statement.floor``, from
    ``floors``, the writer's) and a plain change's detail."""
    params = {**statement.params, "_writer": writer, "_seq": seq, "_episode": episode}
    if statement.floor is not None:
        params["_floor"] = floors.get(statement.floor, statement.floor_start)
    if statement.plain:
        params["_detail"] = json.dumps(dict(statement.detail)) if statement.detail else None
    return params


def changes_in_reply(statement: Statement, episode: str, rows: Sequence[tuple[str | None, ...]]) -> list[Change] | None:
    """The changes a committed message reports (its rows in text form); None: it changed nothing."""
    if not rows:
        return None
    if statement.op == "episode":
        return [Change(str(t), str(op), int(str(pk)), int(str(txid)), episode=episode) for t, op, pk, txid in rows]
    pk, txid, toasted = rows[0][:3]
    toast = (statement.unchanged_toast,) if toasted == "t" and statement.unchanged_toast else ()
    return [Change(statement.table, statement.op, int(str(pk)), int(str(txid)), toast, detail=statement.detail)]


def floor_in_reply(rows: Sequence[tuple[str | None, ...]]) -> str | None:
    """The smallest key in its state a committed single statement's pick saw, as the server wrote
    it (None: it found nothing)."""
    return rows[0][3] if rows and len(rows[0]) > 3 else None


def changes_in_mark(statement: Statement, episode: str, pk: int, txid: int, listed: Any) -> list[Change]:
    """The changes of a committed event as the writer's row keeps them (its reply was lost)."""
    if statement.op == "episode":  # the row lists every change of the episode
        return [Change(str(t), str(op), int(p), txid, episode=episode) for t, op, p in listed]
    # the writer row keeps no unchanged-TOAST flag: such a change is recorded without it
    return [Change(statement.table, statement.op, pk, txid, detail=statement.detail)]
