"""A stream writer: one connection, its own random stream, applying events one transaction each."""

from __future__ import annotations

import random
from collections.abc import Callable

import psycopg2
import psycopg2.errors
from loguru import logger

from daemon.cdc.ledger import Change
from daemon.config import Config
from daemon.errors import DatabaseRejected, StopRequested, first_line
from daemon.health import Health
from daemon.pg import connection
from daemon.pg.connection import Connection
from daemon.pg.retry import with_retry
from daemon.signals import StopSignal
from daemon.stream.kinds.base import EventContext, EventKind

log = logger.bind(channel="stream")


class EventFailed(Exception):
    """The event was rolled back; ``kind`` says why (already logged)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Writer:
    def __init__(
        self,
        number: int,
        config: Config,
        stop: StopSignal,
        ctx: EventContext,
        health: Health,
        on_reconnect: Callable[[], None],
        conn: Connection | None = None,
    ) -> None:
        self.number = number
        self.config = config
        self.stop = stop
        self.ctx = ctx
        self.health = health
        self.on_reconnect = on_reconnect
        self.conn = conn
        self.fatal: BaseException | None = None
        self._lost = False

    @property
    def rng(self) -> random.Random:
        return self.ctx.rng

    def apply(self, kind: EventKind) -> Change | None:
        """Run one event in its own transaction. Raises EventFailed when it did not commit.

        If the connection drops during COMMIT the outcome is unknown to us; after reconnecting we
        ask the server (``txid_status``) so a change is never reported wrongly either way.
        """
        change: Change | None = None
        try:
            conn = self.connection()
            self.ctx.refresh_clock()
            with conn.cursor() as cur:
                change = kind.apply(self.ctx, cur)
            if change is None:
                conn.rollback()
                return None
            conn.commit()
            return change
        except StopRequested:
            raise EventFailed("stopped") from None
        except DatabaseRejected as exc:
            self.fatal = exc
            self.stop.set()
            raise EventFailed("rejected") from None
        except psycopg2.Error as exc:
            if connection.is_connection_lost(exc):
                self._lost = True
                self.close()
                self.health.set_db_ok(False)
                if change is not None:
                    return self._resolve_in_doubt(change, kind, exc)
                raise EventFailed(self._warn("connection", kind, exc)) from None
            self._rollback()
            if (exc.pgcode or "")[:2] in connection.FATAL_SQLSTATE_CLASSES:  # missing privilege, dropped table...
                refusal = connection.classify(exc, self.config.pg)
                log.bind(event="stream.rejected", writer=self.number).error(
                    "{name} refused by the server, stopping (no event can succeed): {error}",
                    name=kind.name,
                    error=str(refusal),
                )
                self.fatal = refusal
                self.stop.set()
                raise EventFailed("rejected") from None
            failure = (
                "integrity"
                if isinstance(exc, psycopg2.IntegrityError)
                else ("canceled" if isinstance(exc, psycopg2.errors.QueryCanceled) else "database")
            )
            raise EventFailed(self._warn(failure, kind, exc)) from None
        except BaseException:
            self._rollback()
            raise

    def _resolve_in_doubt(self, change: Change, kind: EventKind, exc: BaseException) -> Change:
        log.bind(event="stream.in_doubt", txid=change.txid, table=change.table, op=change.op).warning(
            "connection lost during COMMIT of {table} {op} (txid {txid}): checking its outcome after reconnecting",
            table=change.table,
            op=change.op,
            txid=change.txid,
        )
        try:
            conn = self.connection()
            with connection.transaction(conn) as cur:
                cur.execute("SELECT txid_status(%s)", (change.txid,))
                status = connection.fetch_one(cur)[0]
        except (StopRequested, DatabaseRejected, psycopg2.Error):
            log.bind(event="stream.in_doubt_unresolved", txid=change.txid).warning(
                "outcome of txid {txid} unknown (stopped or database gone again); counted as in doubt", txid=change.txid
            )
            raise EventFailed("in_doubt") from None
        if status == "committed":
            log.bind(event="stream.in_doubt_committed", txid=change.txid).info(
                "txid {txid} had committed: recorded", txid=change.txid
            )
            return change
        raise EventFailed(self._warn("connection", kind, exc))

    def _rollback(self) -> None:
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.rollback()
            except psycopg2.Error:
                self.close()

    def connection(self) -> Connection:
        if self.conn is None or self.conn.closed:
            pg = self.config.pg
            self.conn = with_retry(
                lambda: connection.connect(pg, f"stream-{self.number}"),
                self.stop,
                pg.describe(),
                self.config.retry_max_seconds,
                on_attempt=self.health.beat,
            )
            if self._lost:
                self._lost = False
                self.on_reconnect()
                log.bind(event="db.reconnected", target=pg.describe(), writer=self.number).info(
                    "writer {writer} reconnected to {target}", writer=self.number, target=pg.describe()
                )
            self.health.set_db_ok(True)
        return self.conn

    def cancel(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.cancel()

    def close(self) -> None:
        connection.close_quietly(self.conn)
        self.conn = None

    def _warn(self, failure: str, kind: EventKind, exc: BaseException) -> str:
        log.bind(event="stream.rollback", failure=failure, table=kind.table, op=kind.op, writer=self.number).warning(
            "{name} rolled back ({failure}): {error}",
            name=kind.name,
            failure=failure,
            error=connection.scrub(first_line(exc), self.config.pg),
        )
        return failure
