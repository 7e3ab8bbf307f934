"""The change stream: each tick runs the events that are due, each in its own transaction.

Interval mode (the predecessor's): EVENTS_PER_TICK events every STREAM_INTERVAL_SECONDS plus
jitter. Rate mode (STREAM_RATE > 0): ticks every RATE_TICK_SECONDS run what the pacer says is
due. Events are spread over STREAM_WRITERS connections.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from daemon.cdc.ledger import Change, Ledger
from daemon.config import Config
from daemon.data.rows import HospitalData, Pools
from daemon.health import Health
from daemon.metrics import Metrics
from daemon.pg import partitions, sqlfiles
from daemon.pg.connection import Connection
from daemon.signals import StopSignal
from daemon.stream.backlog import Backlog, warn_unbalanced
from daemon.stream.ddl import SchemaChanger
from daemon.stream.flights import EventFailed, Landed
from daemon.stream.idpool import IdPool
from daemon.stream.kinds.base import EventContext, EventKind
from daemon.stream.kinds.episodes import episode_backlog
from daemon.stream.kinds.faturamento import EXTRA as FATURAMENTO
from daemon.stream.kinds.shape import ShapeCache
from daemon.stream.maintenance import MaintenanceConnection
from daemon.stream.mix import EventMix
from daemon.stream.pace_monitor import PaceMonitor
from daemon.stream.pacer import Pacer, RateWindow
from daemon.stream.stats import NOTHING_TO_DO, StreamStats
from daemon.stream.writer import Writer

log = logger.bind(channel="stream")
RATE_TICK_SECONDS = 0.1  # rate mode: a tick this often, each running what is due
RATE_TICKS_PER_SECOND = round(1 / RATE_TICK_SECONDS)
INTERVAL_RATE_WINDOW_SECONDS = 10.0  # interval mode: achieved events/s over this rolling window (>= 3 ticks)
# A first sign of life: the first summary after this many ticks (rate mode: seconds) or this many
# seconds of streaming, whichever comes first; then every summary_every ticks as usual.
EARLY_SUMMARY_TICKS = 5
EARLY_SUMMARY_SECONDS = 10.0


class Streamer:
    """Owns the writers, the event mix and the pacing; counts in ``stats``, watches the pace in ``pace``.

    ``conn`` (the connection that prepared the database) becomes the maintenance connection."""

    def __init__(
        self,
        config: Config,
        stop: StopSignal,
        conn: Connection | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        health: Health | None = None,
        ledger: Ledger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.stop = stop
        s = config.stream
        seed = config.seed.random_seed
        rng = rng or random.Random(None if seed is None else f"{seed}:stream")
        self.ids = IdPool()
        self.shape = ShapeCache()  # SCHEMA_EXTRAS=faturamento: its columns now (schema changes move it)
        self.mix = EventMix(s)
        self.backlog = Backlog()
        self._log_changes = config.log.level in ("TRACE", "DEBUG")
        self.metrics = metrics or Metrics()
        self.health = health or Health(stall_seconds=3600)
        self.ledger = ledger
        pools = Pools.build(rng.randrange(2**31))
        self.maintenance = MaintenanceConnection(
            config.pg, config.retry_max_seconds, stop, self.health, self.metrics.reconnects.inc, conn
        )
        self.writers = [
            Writer(
                i,
                config.pg,
                config.retry_max_seconds,
                config.cdc.ledger_table,
                stop,
                self._context(pools, rng if i == 0 else random.Random(rng.random())),
                self.health,
                self.metrics.reconnects.inc,
            )
            for i in range(s.writers)
        ]
        self.pacer = (
            Pacer(s.rate, s.arrivals, random.Random(rng.random()), s.burst, s.profile, clock=clock) if s.rate else None
        )
        self.pace = PaceMonitor(self.pacer, self.metrics, clock) if self.pacer is not None else None
        # Interval mode has no pace monitor: the achieved rate comes from a short window of its own.
        window = max(INTERVAL_RATE_WINDOW_SECONDS, 3 * s.interval_seconds)
        self.achieved = RateWindow(window, clock) if self.pacer is None else None
        self.stats = StreamStats()
        self._event_counters: dict[tuple[str, str], Any] = {}
        # A summary every STREAM_SUMMARY_EVERY_TICKS ticks; in rate mode every as many seconds.
        self.summary_every = s.summary_every_ticks * (RATE_TICKS_PER_SECOND if self.pacer else 1)
        self.early_summary_ticks = EARLY_SUMMARY_TICKS * (RATE_TICKS_PER_SECOND if self.pacer else 1)
        self._clock = clock
        self._started = clock()  # reset by prepare(), just before the stream starts
        self._early_summary_pending = True
        self._running = threading.Lock()  # held while a tick runs
        self._pool = ThreadPoolExecutor(s.writers, thread_name_prefix="writer") if s.writers > 1 else None
        # SCHEMA_EXTRAS=sinais_vitais: next month's partition made ahead of time, on the maintenance connection.
        self.partitions = (
            partitions.PartitionKeeper(self.maintenance.connection) if partitions.PARENT in s.extras else None
        )
        # STREAM_DDL_EVERY_SECONDS: faturamento's schema changes, on the maintenance connection too.
        self.ddl = (
            SchemaChanger(
                self.maintenance.connection,
                self.shape,
                s.ddl_every_seconds,
                config.cdc.ledger_table,
                self._record_ddl,
                clock,
                self.maintenance.connection_lost,
            )
            if s.ddl_every_seconds  # the config requires SCHEMA_EXTRAS=faturamento with it
            else None
        )

    def _context(self, pools: Pools, rng: random.Random) -> EventContext:
        s = self.config.stream
        return EventContext(
            data=HospitalData(rng, pools, anchor=datetime.now(UTC)),
            ids=self.ids,
            rng=rng,
            retention_days=s.retention_days,
            toast_share=s.toast_share,
            episode_failure_share=s.episode_failure_share,
            message_prefix=s.message_prefix,
            shape=self.shape,
            lifecycle_start=not self.mix.inserts_only,
        )

    @property
    def fatal(self) -> BaseException | None:
        return next((w.fatal for w in self.writers if w.fatal is not None), None)

    @property
    def tick_seconds(self) -> float:
        return RATE_TICK_SECONDS if self.pacer else self.config.stream.interval_seconds

    # -- lifecycle -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the ids foreign keys may point at and the open lifecycles' sizes; forget old writers."""
        conn = self.maintenance.connection()
        self.ids.load(conn)
        self.backlog.load(conn)
        with conn.cursor() as cur:
            cur.execute(sqlfiles.load("writers_prune"))
        if FATURAMENTO in self.config.stream.extras:
            self.shape.load(conn)
        if not self.mix.inserts_only:
            warn_unbalanced(self.mix.kind_shares())
        s = self.config.stream
        mode = f"{s.rate:g} events/s ({s.arrivals})" if self.pacer else f"{s.events_per_tick} event(s) per tick"
        self.metrics.target_rate.set(s.rate)
        self._started = self._clock()
        log.bind(
            event="stream.ready", mix=self.mix.shares(), writers=len(self.writers), backlog=self.backlog.size
        ).info(
            "stream ready: {pacientes} pacientes, {medicos} medicos, {convenios} convenios to reference; "
            "{mode}, {writers} writer(s)",
            pacientes=self.ids.size("pacientes"),
            medicos=self.ids.size("medicos"),
            convenios=self.ids.size("convenios"),
            mode=mode,
            writers=len(self.writers),
        )

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the tick in flight to finish; True if it did within ``timeout``."""
        if self._running.acquire(timeout=max(timeout, 0.0)):
            self._running.release()
            return True
        return False

    def cancel_in_flight(self) -> None:
        """Ask the server to cancel running statements (their transactions then roll back)."""
        for writer in self.writers:
            writer.cancel()
        self.maintenance.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for writer in self.writers:
            writer.retire()
            writer.close()
        self.maintenance.close()

    # -- work ------------------------------------------------------------------------------
    def tick(self) -> None:
        """One scheduler tick: run the events that are due, stopping early on a stop request."""
        with self._running:
            started = time.perf_counter()
            self.health.beat()
            if self.pacer is not None:
                due, target_events = self.pacer.due()
            else:
                due, target_events = self.config.stream.events_per_tick, float(self.config.stream.events_per_tick)
            if self.partitions is not None:
                self.partitions.check()
            if self.ddl is not None:
                self.ddl.check()
            done = self.run_events(due)
            ticks = self.stats.count_tick()
            self.metrics.ticks.inc()
            self.metrics.tick_duration.observe(time.perf_counter() - started)
            if self.pace is not None:
                self.pace.add(target_events, done)
                self.pace.check()
            elif self.achieved is not None:
                self.achieved.add(target_events, done)
                self.metrics.achieved_rate.set(self.achieved.rates().achieved)
            if ticks % self.summary_every == 0 or self._early_summary_due(ticks):
                self._early_summary_pending = False
                self.log_summary()

    def _early_summary_due(self, ticks: int) -> bool:
        """The first summary comes early: after a few ticks or seconds, whichever first."""
        if not self._early_summary_pending or ticks >= self.summary_every:
            return False
        return ticks >= self.early_summary_ticks or self._clock() - self._started >= EARLY_SUMMARY_SECONDS

    def run_events(self, n: int) -> int:
        """Run ``n`` events over the writers; return how many committed."""
        if n <= 0:
            return 0
        if self._pool is None or n == 1:
            return self._run_on(self.writers[0], n)
        share, extra = divmod(n, len(self.writers))
        counts = [share + (1 if i < extra else 0) for i in range(len(self.writers))]
        futures = [self._pool.submit(self._run_on, w, c) for w, c in zip(self.writers, counts) if c]
        return sum(f.result() for f in futures)

    def _run_on(self, writer: Writer, n: int, committed: list[Change] | None = None) -> int:
        """Run ``n`` events on ``writer``, up to its pipeline's depth in flight; return how many
        committed (their changes appended to ``committed``). A kind that finds nothing to do (no
        pending exam, say) is set aside and another drawn in its place. On a stop request no new
        event is sent; the replies of those in flight are still read and their changes recorded."""
        done = 0
        to_start = n
        redraws: deque[set[EventKind]] = deque()  # events to draw again, without the kinds tried
        while True:
            while writer.has_room and (to_start or redraws) and not self.stop.is_set():
                if redraws:
                    self._start(writer, redraws.popleft(), redraws)
                else:
                    to_start -= 1
                    self._start(writer, set(), redraws)
            if not writer.in_flight:
                return done
            changes = self._land(writer.receive(), redraws)
            if changes:
                done += 1
                if committed is not None:
                    committed.extend(changes)

    def _start(self, writer: Writer, tried: set[EventKind], redraws: deque[set[EventKind]]) -> None:
        """Draw a kind (none of ``tried``) and send one event of it."""
        while True:
            kind = self.mix.choose(writer.rng, self.ids, exclude=tried, backlog=self.backlog)
            if kind is None:
                self._count_failure(NOTHING_TO_DO)
                return
            try:
                flight = writer.send(kind, tried)
            except EventFailed as failed:
                if failed.kind not in ("stopped", "rejected"):
                    self._count_failure(failed.kind)
                return
            if flight is not None:
                return
            tried = self._nothing_to_do(kind, tried)

    def _nothing_to_do(self, kind: EventKind, tried: Collection[EventKind]) -> set[EventKind]:
        self.stats.count_fallback(kind.name)
        if kind.drains:
            self.backlog.empty(kind.drains)
        return {*tried, kind}

    def _land(self, landed: Landed, redraws: deque[set[EventKind]]) -> list[Change]:
        """Count and record an event's outcome; its committed changes."""
        flight = landed.flight
        if landed.failure is not None:
            if landed.failure not in ("stopped", "rejected"):
                self._count_failure(landed.failure)
            return []
        if landed.changes is None:
            redraws.append(self._nothing_to_do(flight.kind, flight.tried))
            return []
        changes, statement = landed.changes, flight.statement
        self.backlog.apply(episode_backlog(changes) if statement.op == "episode" else statement.backlog)
        seconds = time.perf_counter() - flight.started
        self.stats.count_event(flight.kind.name, len(changes) if statement.op == "episode" else 0)
        for change in changes:
            self._record(change, seconds)
        return changes

    def run_event(self, writer: Writer | None = None) -> list[Change]:
        """Apply one event in its own transaction, and wait for it; its changes (one, or several
        for an episode; none when nothing committed)."""
        committed: list[Change] = []
        self._run_on(writer or self.writers[0], 1, committed)
        return committed

    def _record(self, change: Change, seconds: float) -> None:
        if self.ledger is not None:
            self.ledger.record(change)
        self.stats.count_change(change)
        counter = self._event_counters.get((change.table, change.op))
        if counter is None:  # labels() looks the child up under a lock: once per table and op
            counter = self._event_counters[(change.table, change.op)] = self.metrics.events.labels(
                change.table, change.op
            )
        counter.inc()
        self.metrics.event_latency.observe(seconds)
        self.health.beat()
        if change.op == "insert":
            self.ids.add(change.table, change.pk)
        if self._log_changes:  # binding a logger per event costs more than the rest of this method
            log.bind(event="stream.change", table=change.table, op=change.op, pk=change.pk, txid=change.txid).debug(
                "{table} {op} id={pk}", table=change.table, op=change.op, pk=change.pk
            )

    def _record_ddl(self, change: Change) -> None:
        """A committed schema change: into the ledger and the metrics (not an event of the mix)."""
        if self.ledger is not None:
            self.ledger.record(change)
        self.metrics.ddl_steps.labels(dict(change.detail).get("step", "")).inc()
        self.health.beat()

    def _count_failure(self, kind: str) -> None:
        self.stats.count_failure(kind)
        self.metrics.failures.labels(kind).inc()

    # -- reporting -------------------------------------------------------------------------
    def log_summary(self) -> None:
        self.stats.log_summary(self.pace.rates() if self.pace is not None else None)
