"""A stream writer: one connection, its own random stream, applying events one transaction each."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from functools import lru_cache

import psycopg2
import psycopg2.errors
from loguru import logger

from daemon.cdc.ledger import Change
from daemon.config import PgSettings
from daemon.errors import DatabaseRejected, StopRequested, first_line
from daemon.health import Health
from daemon.pg import connection, sqlfiles
from daemon.pg.connection import Connection
from daemon.pg.retry import with_retry
from daemon.pg.tables import quoted
from daemon.signals import StopSignal
from daemon.stream.kinds.base import EventContext, EventKind, Statement
from daemon.stream.kinds.faturamento import EXTRA as FATURAMENTO
from daemon.stream.kinds.shape import Shape
from daemon.stream.prepared import PreparedStatements
from daemon.stream.stats import DELIBERATE_ROLLBACK

log = logger.bind(channel="stream")
SCHEMA_CHANGED = "schema_changed"  # failure kind: the table changed under the event (it is read again)


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
    id and the transaction id."""
    return _compose(
        statement.table, statement.op, statement.ctes, statement.body, statement.unchanged_toast, ledger_table
    )


@lru_cache(maxsize=1024)  # a kind's text is fixed apart from its parameters: composed once
def _compose(table: str, op: str, ctes: str, body: str, unchanged_toast: str | None, ledger_table: str | None) -> str:
    with_ctes = f"{ctes}, " if ctes else ""
    toasted = "toasted" if unchanged_toast else "false"
    toast_column = f"ARRAY['{unchanged_toast}']" if unchanged_toast else "NULL::text[]"
    columns = f"'{table}', '{op}', id, NULL, CASE WHEN {toasted} THEN {toast_column} END"
    return (
        f"WITH {with_ctes}change AS ({body}){logged(ledger_table, 'change', columns)}, "
        f"{mark('id, txid_current()', 'change')} "
        f"SELECT id, txid_current(), {toasted} FROM change"
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


class EventFailed(Exception):
    """The event was rolled back; ``kind`` says why (already logged)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Writer:
    def __init__(
        self,
        number: int,
        pg: PgSettings,
        retry_max_seconds: float,
        ledger_table: str | None,
        stop: StopSignal,
        ctx: EventContext,
        health: Health,
        on_reconnect: Callable[[], None],
        conn: Connection | None = None,
    ) -> None:
        self.number = number
        self.pg = pg
        self.retry_max_seconds = retry_max_seconds
        self.ledger_table = ledger_table
        self.stop = stop
        self.ctx = ctx
        self.health = health
        self.on_reconnect = on_reconnect
        self.conn = conn
        self.fatal: BaseException | None = None
        self._lost = False
        self.key = uuid.uuid4().hex  # this writer's row in hospital_sim_writers
        self.seq = 0  # events sent
        self.prepared = PreparedStatements()  # this connection's statements, parsed and planned once

    @property
    def rng(self) -> random.Random:
        return self.ctx.rng

    def apply(self, kind: EventKind) -> tuple[list[Change], Statement] | None:
        """Run one event: one autocommit statement, one round trip. Raises EventFailed when it did not commit.

        Returns None when the kind had nothing to do (no row in the state it picks from). If the
        connection drops before the result arrives, the outcome is unknown to us; after
        reconnecting the writer's row in ``hospital_sim_writers`` says whether this event
        committed (and its id and txid), so a change is never reported wrongly either way.
        """
        statement: Statement | None = None
        built_with: Shape | None = None
        try:
            conn = self.connection()
            if self.ctx.shape.stale:  # a statement found faturamento changed: read its shape again
                self.ctx.shape.load(conn)
            built_with = self.ctx.shape.current
            self.ctx.refresh_clock()
            statement = kind.build(self.ctx)
            if statement is None:
                return None
            self.seq += 1
            params = {**statement.params, "_writer": self.key, "_seq": self.seq, "_episode": kind.name}
            with conn.cursor() as cur:
                if statement.op == "episode":
                    self.prepared.execute(cur, episode_statements(statement, self.ledger_table), params)
                    rows = cur.fetchall()
                    if not rows:
                        return None
                    return [
                        Change(str(t), str(op), int(pk), int(txid), episode=kind.name) for t, op, pk, txid in rows
                    ], statement
                if statement.plain:  # a TRUNCATE cannot be prepared: that message then goes as text
                    detail = json.dumps(dict(statement.detail)) if statement.detail else None
                    plain = compose_plain(statement, self.ledger_table)
                    self.prepared.execute(cur, plain, {**params, "_detail": detail})
                else:
                    self.prepared.execute(cur, [compose(statement, self.ledger_table)], params)
                row = cur.fetchone()
            if row is None:
                return None
            toast = (statement.unchanged_toast,) if row[2] and statement.unchanged_toast else ()
            change = Change(statement.table, statement.op, int(row[0]), int(row[1]), toast, detail=statement.detail)
            return [change], statement
        except StopRequested:
            raise EventFailed("stopped") from None
        except DatabaseRejected as exc:
            self.fatal = exc
            self.stop.set()
            raise EventFailed("rejected") from None
        except psycopg2.Error as exc:
            if connection.is_connection_lost(exc):
                self.connection_lost()
                if statement is not None:
                    return self._resolve_in_doubt(statement, kind, exc)
                raise EventFailed(self._warn("connection", kind, exc)) from None
            if isinstance(exc, psycopg2.errors.UndefinedColumn) and self._shape_moved(kind, built_with):
                # another replica's schema change dropped a column this writer still filled: not fatal
                raise EventFailed(self._warn(SCHEMA_CHANGED, kind, exc)) from None
            if (exc.pgcode or "")[:2] in connection.FATAL_SQLSTATE_CLASSES:  # missing privilege, dropped table...
                refusal = connection.classify(exc, self.pg)
                log.bind(event="stream.rejected", writer=self.number).error(
                    "{name} refused by the server, stopping (no event can succeed): {error}",
                    name=kind.name,
                    error=str(refusal),
                )
                self.fatal = refusal
                self.stop.set()
                raise EventFailed("rejected") from None
            if statement is not None and statement.fails_on_purpose and isinstance(exc, psycopg2.IntegrityError):
                log.bind(event="stream.episode_rolled_back", episode=kind.name, writer=self.number).debug(
                    "{name} rolled back on purpose: {error}", name=kind.name, error=first_line(exc)
                )
                raise EventFailed(DELIBERATE_ROLLBACK) from None
            failure = (
                "integrity"
                if isinstance(exc, psycopg2.IntegrityError)
                else ("canceled" if isinstance(exc, psycopg2.errors.QueryCanceled) else "database")
            )
            raise EventFailed(self._warn(failure, kind, exc)) from None

    def _shape_moved(self, kind: EventKind, built_with: Shape | None) -> bool:
        """Whether faturamento's shape changed since ``kind`` built its statement (a column it
        filled was dropped by another replica): read again now. A column missing for any other
        reason is the server's refusal, as before."""
        if kind.extra != FATURAMENTO or built_with is None or self.conn is None:
            return False
        try:
            return self.ctx.shape.load(self.conn) != built_with
        except psycopg2.Error:  # could not look: read it before the next event, and see then
            self.ctx.shape.mark_stale()
            return True

    def connection_lost(self) -> None:
        """The session is gone (found by an event, or by work sharing this connection): replace it
        at the next use, and say so when reconnected."""
        self._lost = True
        self.close()
        self.health.set_db_ok(False)

    def _resolve_in_doubt(
        self, statement: Statement, kind: EventKind, exc: BaseException
    ) -> tuple[list[Change], Statement]:
        seq = self.seq
        log.bind(event="stream.in_doubt", seq=seq, table=statement.table, op=statement.op).warning(
            "connection lost before the outcome of {table} {op} (event {seq} of writer {writer}) arrived: "
            "checking it after reconnecting",
            table=statement.table,
            op=statement.op,
            seq=seq,
            writer=self.number,
        )
        try:
            conn = self.connection()
            with conn.cursor() as cur:
                cur.execute(sqlfiles.load("writer_last_event"), {"writer": self.key})
                row = cur.fetchone()
        except (StopRequested, DatabaseRejected, psycopg2.Error):
            log.bind(event="stream.in_doubt_unresolved", seq=seq).warning(
                "outcome of event {seq} unknown (stopped or database gone again); counted as in doubt", seq=seq
            )
            raise EventFailed("in_doubt") from None
        if row is not None and int(row[0]) == seq:
            txid = int(row[2])
            if statement.op == "episode":  # the row lists every change of the episode
                changes = [Change(str(t), str(op), int(pk), txid, episode=kind.name) for t, op, pk in row[3]]
            else:  # the writer row keeps no unchanged-TOAST flag: such a change is recorded without it
                changes = [Change(statement.table, statement.op, int(row[1]), txid, detail=statement.detail)]
            log.bind(event="stream.in_doubt_committed", seq=seq, txid=txid).info(
                "event {seq} had committed (txid {txid}): recorded", seq=seq, txid=txid
            )
            return changes, statement
        raise EventFailed(self._warn("connection", kind, exc))

    def connection(self) -> Connection:
        if self.conn is None or self.conn.closed:
            pg = self.pg
            self.conn = with_retry(
                lambda: connection.connect(pg, f"stream-{self.number}"),
                self.stop,
                pg.describe(),
                self.retry_max_seconds,
                on_attempt=self.health.beat,
            )
            self.prepared.reset()  # a new session: nothing prepared in it yet
            if self._lost:
                self._lost = False
                self.on_reconnect()
                log.bind(event="db.reconnected", target=pg.describe(), writer=self.number).info(
                    "writer {writer} reconnected to {target}", writer=self.number, target=pg.describe()
                )
            self.health.set_db_ok(True)
        if not self.conn.autocommit:
            self.conn.autocommit = True  # an event is one statement: its own transaction, no BEGIN round trip
        return self.conn

    def cancel(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.cancel()

    def retire(self) -> None:
        """Remove this writer's row (best effort: a row left behind is pruned a day later)."""
        if self.conn is None or self.conn.closed:
            return
        try:
            with self.conn.cursor() as cur:
                cur.execute("DELETE FROM hospital_sim_writers WHERE writer = %s", (self.key,))
        except psycopg2.Error:
            pass

    def close(self) -> None:
        connection.close_quietly(self.conn)
        self.conn = None

    def _warn(self, failure: str, kind: EventKind, exc: BaseException) -> str:
        log.bind(event="stream.rollback", failure=failure, table=kind.table, op=kind.op, writer=self.number).warning(
            "{name} rolled back ({failure}): {error}",
            name=kind.name,
            failure=failure,
            error=connection.scrub(first_line(exc), self.pg),
        )
        return failure
