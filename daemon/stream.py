"""The change stream: each tick runs a number of events, each in its own transaction."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime

import psycopg2
from loguru import logger

from daemon import database
from daemon.config import Config
from daemon.database import Connection
from daemon.errors import DatabaseRejected, StopRequested
from daemon.events import INSERTS, Change, EventContext, EventKind
from daemon.generators import HospitalData, Pools
from daemon.idpool import IdPool
from daemon.retry import with_retry
from daemon.signals import StopSignal

log = logger.bind(channel="stream")
SUMMARY_TABLES = ("consultas", "exames", "internacoes", "pacientes")


class Streamer:
    """Owns the stream's connection, its counters and the choice of events."""

    def __init__(
        self, config: Config, stop: StopSignal, conn: Connection | None = None, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.stop = stop
        self.conn = conn
        seed = config.seed.random_seed
        self.rng = rng or random.Random(None if seed is None else f"{seed}:stream")
        self.ids = IdPool()
        self.ctx = EventContext(
            data=HospitalData(self.rng, Pools.build(self.rng.randrange(2**31)), anchor=datetime.now(UTC)),
            ids=self.ids,
            rng=self.rng,
        )
        weights = config.stream.insert_weights
        self.kinds: list[tuple[EventKind, float]] = [(INSERTS[t], w) for t, w in weights.items() if w > 0]
        self.committed: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[str] = Counter()
        self.ticks = 0
        self.fatal: BaseException | None = None
        self._running = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the ids foreign keys may point at."""
        self.ids.load(self._connection())
        log.bind(event="stream.ready", pacientes=self.ids.size("pacientes"), medicos=self.ids.size("medicos")).info(
            "stream ready: {pacientes} pacientes and {medicos} medicos to reference",
            pacientes=self.ids.size("pacientes"),
            medicos=self.ids.size("medicos"),
        )

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the tick in flight to finish; True if it did within ``timeout``."""
        if self._running.acquire(timeout=max(timeout, 0.0)):
            self._running.release()
            return True
        return False

    def cancel_in_flight(self) -> None:
        """Ask the server to cancel the running statement (its transaction then rolls back)."""
        if self.conn is not None and not self.conn.closed:
            self.conn.cancel()

    def close(self) -> None:
        database.close_quietly(self.conn)
        self.conn = None

    # -- work ------------------------------------------------------------------------------
    def tick(self) -> None:
        """One scheduler tick: EVENTS_PER_TICK events, stopping early on a stop request."""
        with self._running:
            for _ in range(self.config.stream.events_per_tick):
                if self.stop.is_set():
                    return
                self.run_event()
            self.ticks += 1
            if self.ticks % self.config.stream.summary_every_ticks == 0:
                self.log_summary()

    def run_event(self) -> Change | None:
        """Choose and apply one event in its own transaction; record it only once committed."""
        kind = self._choose()
        if kind is None:
            self.failures["impossible"] += 1
            return None
        try:
            conn = self._connection()
            self.ctx.refresh_clock()
            with database.transaction(conn) as cur:
                change = kind.apply(self.ctx, cur)
        except StopRequested:
            return None
        except DatabaseRejected as exc:
            self.fatal = exc
            self.stop.set()
            return None
        except psycopg2.IntegrityError as exc:
            self._fail("integrity", kind, exc)
            return None
        except psycopg2.errors.QueryCanceled as exc:
            self._fail("canceled", kind, exc)
            return None
        except psycopg2.Error as exc:
            if database.is_connection_lost(exc):
                self._fail("connection", kind, exc)
                self.close()
            else:
                self._fail("database", kind, exc)
            return None
        self.committed[(change.table, change.op)] += 1
        if change.op == "insert":
            self.ids.add(change.table, change.pk)
        log.bind(event="stream.change", table=change.table, op=change.op, pk=change.pk).debug(
            "{table} {op} id={pk}", table=change.table, op=change.op, pk=change.pk
        )
        return change

    def summary(self) -> str:
        per_table = Counter()
        for (table, _op), n in self.committed.items():
            per_table[table] += n
        parts = [f"{table}: {per_table[table]}" for table in SUMMARY_TABLES]
        parts += [f"{table}: {n}" for table, n in sorted(per_table.items()) if table not in SUMMARY_TABLES]
        parts.append(f"falhas: {sum(self.failures.values())}")
        return " | ".join(parts)

    def log_summary(self) -> None:
        log.bind(
            event="stream.summary",
            ticks=self.ticks,
            committed={f"{t}.{o}": n for (t, o), n in sorted(self.committed.items())},
            failures=dict(self.failures),
        ).info("Stream ciclo {ticks}: {summary}", ticks=self.ticks, summary=self.summary())

    # -- internals -------------------------------------------------------------------------
    def _choose(self) -> EventKind | None:
        options = [(kind, w) for kind, w in self.kinds if kind.possible(self.ids)]
        if not options:
            return None
        kinds, weights = zip(*options)
        return self.rng.choices(kinds, weights)[0]

    def _connection(self) -> Connection:
        if self.conn is None or self.conn.closed:
            pg = self.config.pg
            self.conn = with_retry(
                lambda: database.connect(pg, "stream"), self.stop, pg.describe(), self.config.retry_max_seconds
            )
        return self.conn

    def _fail(self, kind_of_failure: str, kind: EventKind, exc: BaseException) -> None:
        self.failures[kind_of_failure] += 1
        log.bind(event="stream.rollback", failure=kind_of_failure, table=kind.table, op=kind.op).warning(
            "{name} rolled back ({failure}): {error}",
            name=kind.name,
            failure=kind_of_failure,
            error=database.scrub(
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.config.pg
            ),
        )
