"""The change stream: each tick runs the events that are due, each in its own transaction.

Interval mode (the predecessor's): EVENTS_PER_TICK events every STREAM_INTERVAL_SECONDS plus
jitter. Rate mode (STREAM_RATE > 0): ticks every RATE_TICK_SECONDS run what the pacer says is
due. Events are spread over STREAM_WRITERS connections.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from loguru import logger

from daemon.cdc.ledger import Change, Ledger
from daemon.config import Config
from daemon.data.rows import HospitalData, Pools
from daemon.health import Health
from daemon.metrics import Metrics
from daemon.pg.connection import Connection
from daemon.signals import StopSignal
from daemon.stream.idpool import IdPool
from daemon.stream.kinds.base import EventContext, EventKind
from daemon.stream.mix import EventMix
from daemon.stream.pacer import Pacer, RateWindow
from daemon.stream.writer import EventFailed, Writer

log = logger.bind(channel="stream")
SUMMARY_TABLES = ("consultas", "exames", "internacoes", "pacientes")
RATE_TICK_SECONDS = 0.1  # rate mode: 10 ticks a second, each running what is due
BEHIND_WARN_EVERY_SECONDS = 30.0
BEHIND_TOLERANCE = 0.98  # achieved below 98 % of target over the window = falling behind


class Streamer:
    """Owns the writers, the counters, the event mix and the pacing."""

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
        s = config.stream
        seed = config.seed.random_seed
        self.rng = rng or random.Random(None if seed is None else f"{seed}:stream")
        self.ids = IdPool()
        self.mix = EventMix(s)
        self.metrics = metrics or Metrics()
        self.health = health or Health(stall_seconds=3600)
        self.ledger = ledger
        pools = Pools.build(self.rng.randrange(2**31))
        self.writers = [
            Writer(
                i,
                config,
                stop,
                self._context(pools, self.rng if i == 0 else random.Random(self.rng.random())),
                self.health,
                self.metrics.reconnects.inc,
                conn if i == 0 else None,
            )
            for i in range(s.writers)
        ]
        self.pacer = Pacer(s.rate, s.arrivals, random.Random(self.rng.random()), s.burst, s.profile) if s.rate else None
        self.window = RateWindow()
        self.committed: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[str] = Counter()
        self.ticks = 0
        self._lock = threading.Lock()  # counters and ledger, shared by writer threads
        self._running = threading.Lock()  # held while a tick runs
        self._pool = ThreadPoolExecutor(s.writers, thread_name_prefix="writer") if s.writers > 1 else None
        self._last_behind_warning = 0.0
        self._dropped_seen = 0

    def _context(self, pools: Pools, rng: random.Random) -> EventContext:
        s = self.config.stream
        return EventContext(
            data=HospitalData(rng, pools, anchor=datetime.now(UTC)),
            ids=self.ids,
            rng=rng,
            retention_days=s.retention_days,
            toast_share=s.toast_share,
        )

    @property
    def fatal(self) -> BaseException | None:
        return next((w.fatal for w in self.writers if w.fatal is not None), None)

    @property
    def tick_seconds(self) -> float:
        return RATE_TICK_SECONDS if self.pacer else self.config.stream.interval_seconds

    # -- lifecycle -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the ids foreign keys may point at."""
        self.ids.load(self.writers[0].connection())
        s = self.config.stream
        mode = f"{s.rate:g} events/s ({s.arrivals})" if self.pacer else f"{s.events_per_tick} event(s) per tick"
        self.metrics.target_rate.set(s.rate)
        log.bind(event="stream.ready", mix=self.mix.shares(), writers=len(self.writers)).info(
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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for writer in self.writers:
            writer.close()

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
            done = self.run_events(due)
            self.ticks += 1
            self.window.add(target_events, done)
            self.metrics.ticks.inc()
            self.metrics.tick_duration.observe(time.perf_counter() - started)
            if self.pacer is not None:
                self._check_pace()
            every = self.config.stream.summary_every_ticks * (10 if self.pacer else 1)  # rate mode: 10 ticks/s
            if self.ticks % every == 0:
                self.log_summary()

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

    def _run_on(self, writer: Writer, n: int) -> int:
        done = 0
        for _ in range(n):
            if self.stop.is_set():
                break
            if self.run_event(writer) is not None:
                done += 1
        return done

    def run_event(self, writer: Writer | None = None) -> Change | None:
        """Apply one event in its own transaction; record it only once committed.

        A kind with nothing to change (no pending exam, say) is set aside and another drawn.
        """
        writer = writer or self.writers[0]
        tried: set[EventKind] = set()
        while True:
            kind = self.mix.choose(writer.rng, self.ids, exclude=tried)
            if kind is None:
                self._count_failure("nothing_to_do")
                return None
            started = time.perf_counter()
            try:
                change = writer.apply(kind)
            except EventFailed as failed:
                if failed.kind not in ("stopped", "rejected"):
                    self._count_failure(failed.kind)
                return None
            if change is None:
                tried.add(kind)
                continue
            self._record(change, time.perf_counter() - started)
            return change

    def _record(self, change: Change, seconds: float) -> None:
        with self._lock:
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

    def _count_failure(self, kind: str) -> None:
        with self._lock:
            self.failures[kind] += 1
        self.metrics.failures.labels(kind).inc()

    def _check_pace(self) -> None:
        target, achieved, span = self.window.rates(self.pacer.pending() if self.pacer else 0.0)
        self.metrics.achieved_rate.set(achieved)
        self.metrics.target_rate.set(target)
        dropped = self.pacer.dropped if self.pacer else 0
        newly_dropped, self._dropped_seen = dropped - self._dropped_seen, dropped
        if newly_dropped:
            self.metrics.dropped.inc(newly_dropped)
        now = time.monotonic()
        behind = newly_dropped > 0 or (span >= 10 and achieved < BEHIND_TOLERANCE * target)
        if behind and now - self._last_behind_warning > BEHIND_WARN_EVERY_SECONDS:
            self._last_behind_warning = now
            log.bind(
                event="stream.behind",
                target=round(target, 2),
                achieved=round(achieved, 2),
                dropped=self.pacer.dropped if self.pacer else 0,
            ).warning(
                "falling behind: {achieved:.1f} events/s achieved vs {target:.1f} target over {span:.0f}s "
                "({dropped} dropped); the database or STREAM_WRITERS is the limit",
                achieved=achieved,
                target=target,
                span=span,
                dropped=self.pacer.dropped if self.pacer else 0,
            )

    # -- reporting -------------------------------------------------------------------------
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
        extra = {}
        if self.pacer is not None:
            target, achieved, _ = self.window.rates(self.pacer.pending())
            extra = {"target_rate": round(target, 2), "achieved_rate": round(achieved, 2)}
        log.bind(
            event="stream.summary",
            ticks=self.ticks,
            committed={f"{t}.{o}": n for (t, o), n in sorted(self.committed.items())},
            failures=dict(self.failures),
            **extra,
        ).info(
            "Stream ciclo {ticks}: {summary}{rate}",
            ticks=self.ticks,
            summary=self.summary(),
            rate=f" | {extra['achieved_rate']}/{extra['target_rate']} ev/s" if extra else "",
        )
