"""The change stream: each tick runs a number of events, each in its own transaction."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import psycopg2
from loguru import logger

from daemon import database
from daemon.config import Config
from daemon.database import Connection
from daemon.errors import DatabaseRejected, StopRequested
from daemon.events import Change, EventContext, EventKind
from daemon.generators import HospitalData, Pools
from daemon.health import Health
from daemon.idpool import IdPool
from daemon.ledger import Ledger
from daemon.metrics import Metrics
from daemon.mix import EventMix
from daemon.retry import with_retry
from daemon.signals import StopSignal

log = logger.bind(channel="stream")
SUMMARY_TABLES = ("consultas", "exames", "internacoes", "pacientes")


class Streamer:
    """Owns the stream's connection, its counters and the choice of events."""

    def __init__(
        self,
        config: Config,
        stop: StopSignal,
        conn: Connection | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        health: Health | None = None,
        ledger: Ledger | None = None,
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
            retention_days=config.stream.retention_days,
            toast_share=config.stream.toast_share,
        )
        self.mix = EventMix(config.stream)
        self.metrics = metrics or Metrics()
        self.health = health or Health(stall_seconds=3600)
        self.ledger = ledger
        self.committed: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[str] = Counter()
        self.ticks = 0
        self.fatal: BaseException | None = None
        self._running = threading.Lock()
        self._lost = False

    # -- lifecycle -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the ids foreign keys may point at."""
        self.ids.load(self._connection())
        log.bind(event="stream.ready", mix=self.mix.shares()).info(
            "stream ready: {pacientes} pacientes, {medicos} medicos, {convenios} convenios to reference",
            pacientes=self.ids.size("pacientes"),
            medicos=self.ids.size("medicos"),
            convenios=self.ids.size("convenios"),
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
            started = time.perf_counter()
            self.health.beat()
            for _ in range(self.config.stream.events_per_tick):
                if self.stop.is_set():
                    return
                self.run_event()
            self.ticks += 1
            self.metrics.ticks.inc()
            self.metrics.tick_duration.observe(time.perf_counter() - started)
            if self.ticks % self.config.stream.summary_every_ticks == 0:
                self.log_summary()

    def run_event(self) -> Change | None:
        """Apply one event in its own transaction; record it only once committed.

        A kind with nothing to change (no pending exam, say) is set aside and another drawn.
        """
        tried: set[EventKind] = set()
        while True:
            kind = self.mix.choose(self.rng, self.ids, exclude=tried)
            if kind is None:
                self.failures["nothing_to_do"] += 1
                self.metrics.failures.labels("nothing_to_do").inc()
                return None
            started = time.perf_counter()
            try:
                change = self._apply(kind)
            except _EventFailed:
                return None
            if change is None:
                tried.add(kind)
                continue
            self._record(change, time.perf_counter() - started)
            return change

    def _apply(self, kind: EventKind) -> Change | None:
        try:
            conn = self._connection()
            self.ctx.refresh_clock()
            with database.transaction(conn) as cur:
                return kind.apply(self.ctx, cur)
        except StopRequested:
            raise _EventFailed() from None
        except DatabaseRejected as exc:
            self.fatal = exc
            self.stop.set()
            raise _EventFailed() from None
        except psycopg2.IntegrityError as exc:
            self._fail("integrity", kind, exc)
        except psycopg2.errors.QueryCanceled as exc:
            self._fail("canceled", kind, exc)
        except psycopg2.Error as exc:
            if database.is_connection_lost(exc):
                self._fail("connection", kind, exc)
                self.close()
                self._lost = True
                self.health.set_db_ok(False)
            else:
                self._fail("database", kind, exc)
        raise _EventFailed()

    def _record(self, change: Change, seconds: float) -> None:
        if self.ledger is not None:
            self.ledger.record(change)
        self.committed[(change.table, change.op)] += 1
        self.metrics.events.labels(change.table, change.op).inc()
        self.metrics.event_latency.observe(seconds)
        self.health.beat()
        if change.op == "insert":
            self.ids.add(change.table, change.pk)
        log.bind(event="stream.change", table=change.table, op=change.op, pk=change.pk, txid=change.txid).debug(
            "{table} {op} id={pk}", table=change.table, op=change.op, pk=change.pk
        )

    def summary(self) -> str:
        per_table: Counter[str] = Counter()
        per_op: Counter[str] = Counter()
        for (table, op), n in self.committed.items():
            per_table[table] += n
            per_op[op] += n
        parts = [f"{table}: {per_table[table]}" for table in SUMMARY_TABLES]
        parts += [f"{table}: {n}" for table, n in sorted(per_table.items()) if table not in SUMMARY_TABLES]
        parts.append(f"falhas: {sum(self.failures.values()) - self.failures['nothing_to_do']}")
        ops = ", ".join(f"{op} {per_op[op]}" for op in ("insert", "update", "delete"))
        return " | ".join(parts) + f" ({ops})"

    def log_summary(self) -> None:
        log.bind(
            event="stream.summary",
            ticks=self.ticks,
            committed={f"{t}.{o}": n for (t, o), n in sorted(self.committed.items())},
            failures=dict(self.failures),
        ).info("Stream ciclo {ticks}: {summary}", ticks=self.ticks, summary=self.summary())

    # -- internals -------------------------------------------------------------------------
    def _connection(self) -> Connection:
        if self.conn is None or self.conn.closed:
            pg = self.config.pg
            self.conn = with_retry(
                lambda: database.connect(pg, "stream"),
                self.stop,
                pg.describe(),
                self.config.retry_max_seconds,
                on_attempt=self.health.beat,
            )
            if self._lost:
                self._lost = False
                self.metrics.reconnects.inc()
                log.bind(event="db.reconnected", target=pg.describe()).info(
                    "stream reconnected to {target}", target=pg.describe()
                )
            self.health.set_db_ok(True)
        return self.conn

    def _fail(self, kind_of_failure: str, kind: EventKind, exc: BaseException) -> None:
        self.failures[kind_of_failure] += 1
        self.metrics.failures.labels(kind_of_failure).inc()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.bind(event="stream.rollback", failure=kind_of_failure, table=kind.table, op=kind.op).warning(
            "{name} rolled back ({failure}): {error}",
            name=kind.name,
            failure=kind_of_failure,
            error=database.scrub(text, self.config.pg),
        )


class _EventFailed(Exception):
    """Internal: the event was rolled back (already counted and logged)."""
