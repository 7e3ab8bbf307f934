"""The daemon's lifecycle, in data-flow order, torn down in reverse.

probes -> connect (retry) -> bootstrap schema (+ CDC objects) -> seed if empty -> stream on a
scheduler -> wait for a stop signal -> stop scheduling, let the event in flight finish
(bounded), close the ledger, the connection and the probes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from daemon.bootstrap import bootstrap_database
from daemon.cdc import slots
from daemon.cdc.ledger import Ledger
from daemon.config import Config
from daemon.errors import SimulatorError
from daemon.health import Health
from daemon.metrics import Metrics, disable_created_series
from daemon.pg import connection, schema
from daemon.pg.connection import Connection
from daemon.pg.retry import connect_with_retry
from daemon.probes import ProbeServer
from daemon.seed import loader
from daemon.signals import StopSignal
from daemon.stream.scheduler import TickScheduler
from daemon.stream.streamer import Streamer


def prepare_database(conn: Connection, config: Config, stop: StopSignal, metrics: Metrics | None = None) -> None:
    """Bootstrap the schema idempotently, then seed when the data tables are empty."""
    bootstrap_database(conn, config.cdc, config.schema.extras)
    loaded = loader.seed_if_empty(conn, config.seed, stop=stop)
    if metrics is not None and loaded:
        for table, rows in loaded.items():
            metrics.seed_rows.labels(table).set(rows)


@dataclass
class _Running:
    """What has been started so far (torn down in reverse)."""

    probes: ProbeServer | None = None
    conn: Connection | None = None
    streamer: Streamer | None = None
    scheduler: TickScheduler | None = None
    ledger: Ledger | None = None


def run(config: Config, stop: StopSignal, bootstrap: bool = True) -> None:
    """Run until ``stop`` is set. Raises SimulatorError subclasses on fatal problems."""
    disable_created_series()
    metrics = Metrics()
    stall = max(60.0, 5 * (config.stream.interval_seconds + config.stream.max_jitter_ms / 1000))
    health = Health(stall_seconds=stall)
    running = _Running()
    try:
        if config.http_port:
            running.probes = ProbeServer(
                config.http_host, config.http_port, health, metrics, on_scrape=lambda: slots.observe(config.pg, metrics)
            )
            running.probes.start()

        def prepare(conn: Connection) -> None:
            if bootstrap:
                prepare_database(conn, config, stop, metrics)
            elif not schema.exists(conn):
                raise SimulatorError("schema missing: run `python -m daemon init` (or the default `run`) first")

        running.conn = connect_with_retry(config, stop, "main", on_attempt=health.beat, then=prepare)
        if config.cdc.ledger_file is not None:
            running.ledger = Ledger(config.cdc.ledger_file)
        running.streamer = Streamer(config, stop, running.conn, metrics=metrics, health=health, ledger=running.ledger)
        running.conn = None  # the streamer owns it now
        running.streamer.prepare()
        health.set_prepared()
        rate_mode = config.stream.rate > 0
        running.scheduler = TickScheduler(
            running.streamer.tick_seconds,
            0 if rate_mode else config.stream.max_jitter_ms,
            running.streamer.tick,
            warn_skips=not rate_mode,
        )
        running.scheduler.start()
        s = config.stream
        logger.bind(
            event="stream.start",
            interval=s.interval_seconds,
            jitter_ms=s.max_jitter_ms,
            events_per_tick=s.events_per_tick,
            ops=dict(s.op_weights),
        ).info(
            "Iniciando stream com intervalo {interval}s e jitter até {jitter_ms}ms, "
            "{events_per_tick} evento(s) por ciclo",
            interval=s.interval_seconds,
            jitter_ms=s.max_jitter_ms,
            events_per_tick=s.events_per_tick,
        )
        while not stop.wait(1.0):
            pass
    finally:
        _teardown(config, stop, running)
    if running.streamer is not None and running.streamer.fatal is not None:
        raise running.streamer.fatal


def _guarded(step: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - teardown must go on
        logger.bind(event="shutdown.error", step=step).warning("{step} failed during shutdown: {e!r}", step=step, e=exc)


def _teardown(config: Config, stop: StopSignal, running: _Running) -> None:
    """Reverse order; each step guarded so one failure never skips the rest."""
    started = time.monotonic()
    logger.bind(event="shutdown.begin", reason=stop.reason).info(
        "stopping ({reason}): no new ticks, finishing the event in flight", reason=stop.reason
    )
    if running.scheduler is not None:
        _guarded("scheduler", running.scheduler.shutdown)
    streamer = running.streamer
    if streamer is not None:

        def finish() -> None:
            if not streamer.wait_idle(config.shutdown_timeout_seconds):
                logger.bind(event="shutdown.cancel").warning(
                    "event still running after {t}s: cancelling it (it rolls back)", t=config.shutdown_timeout_seconds
                )
                streamer.cancel_in_flight()
                streamer.wait_idle(2.0)
            streamer.log_summary()

        _guarded("stream", finish)
        _guarded("stream connection", streamer.close)
    if running.ledger is not None and (streamer is None or streamer.wait_idle(0)):
        _guarded("ledger", running.ledger.close)  # else a writer may still commit: the file closes at exit
    _guarded("connection", lambda: connection.close_quietly(running.conn))
    if running.probes is not None:
        _guarded("probes", running.probes.stop)
    logger.bind(event="shutdown.complete", seconds=round(time.monotonic() - started, 3)).info(
        "shutdown complete in {seconds:.2f}s", seconds=time.monotonic() - started
    )
