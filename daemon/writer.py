"""A stream writer: one connection, its own random stream, applying events one transaction each."""

from __future__ import annotations

import random
from collections.abc import Callable

import psycopg2
from loguru import logger

from daemon import database
from daemon.config import Config
from daemon.database import Connection
from daemon.errors import DatabaseRejected, StopRequested
from daemon.events import Change, EventContext, EventKind
from daemon.health import Health
from daemon.retry import with_retry
from daemon.signals import StopSignal

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
        """Run one event in its own transaction. Raises EventFailed when it rolled back."""
        try:
            conn = self.connection()
            self.ctx.refresh_clock()
            with database.transaction(conn) as cur:
                return kind.apply(self.ctx, cur)
        except StopRequested:
            raise EventFailed("stopped") from None
        except DatabaseRejected as exc:
            self.fatal = exc
            self.stop.set()
            raise EventFailed("rejected") from None
        except psycopg2.IntegrityError as exc:
            failure = self._warn("integrity", kind, exc)
        except psycopg2.errors.QueryCanceled as exc:
            failure = self._warn("canceled", kind, exc)
        except psycopg2.Error as exc:
            if database.is_connection_lost(exc):
                failure = self._warn("connection", kind, exc)
                self.close()
                self._lost = True
                self.health.set_db_ok(False)
            else:
                failure = self._warn("database", kind, exc)
        raise EventFailed(failure)

    def connection(self) -> Connection:
        if self.conn is None or self.conn.closed:
            pg = self.config.pg
            self.conn = with_retry(
                lambda: database.connect(pg, f"stream-{self.number}"),
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
        database.close_quietly(self.conn)
        self.conn = None

    def _warn(self, failure: str, kind: EventKind, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.bind(event="stream.rollback", failure=failure, table=kind.table, op=kind.op, writer=self.number).warning(
            "{name} rolled back ({failure}): {error}",
            name=kind.name,
            failure=failure,
            error=database.scrub(text, self.config.pg),
        )
        return failure
