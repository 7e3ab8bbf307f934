"""The stream's maintenance connection: what runs beside the events, never between them.

Loading the ids and backlogs when the stream starts, pruning old writer rows, next month's
partition (SCHEMA_EXTRAS=sinais_vitais) and faturamento's schema changes
(STREAM_DDL_EVERY_SECONDS) run here, in autocommit (maintenance that holds a lock borrows a
transaction: ``daemon.pg.connection.borrowed_transaction``). The events go through each writer's
pipelined session (``daemon.stream.writer``), which this work would otherwise have to stop.
"""

from __future__ import annotations

from collections.abc import Callable

from loguru import logger

from daemon.config import PgSettings
from daemon.health import Health
from daemon.pg import connection
from daemon.pg.connection import Connection
from daemon.pg.retry import with_retry
from daemon.signals import StopSignal

log = logger.bind(channel="stream")


class MaintenanceConnection:
    def __init__(
        self,
        pg: PgSettings,
        retry_max_seconds: float,
        stop: StopSignal,
        health: Health,
        on_reconnect: Callable[[], None],
        conn: Connection | None = None,
    ) -> None:
        self.pg = pg
        self.retry_max_seconds = retry_max_seconds
        self.stop = stop
        self.health = health
        self.on_reconnect = on_reconnect
        self.conn = conn
        self._lost = False

    def connection(self) -> Connection:
        """The connection, opened again (with retries) when it was lost; in autocommit."""
        if self.conn is None or self.conn.closed:
            pg = self.pg
            self.conn = with_retry(
                lambda: connection.connect(pg, "stream"),
                self.stop,
                pg.describe(),
                self.retry_max_seconds,
                on_attempt=self.health.beat,
            )
            if self._lost:
                self._lost = False
                self.on_reconnect()
                log.bind(event="db.reconnected", target=pg.describe(), writer="maintenance").info(
                    "the stream's maintenance connection reconnected to {target}", target=pg.describe()
                )
            self.health.set_db_ok(True)
        if not self.conn.autocommit:
            self.conn.autocommit = True
        return self.conn

    def connection_lost(self) -> None:
        """The session is gone: replace it at the next use."""
        self._lost = True
        self.close()
        self.health.set_db_ok(False)

    def cancel(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.cancel()

    def close(self) -> None:
        connection.close_quietly(self.conn)
        self.conn = None
