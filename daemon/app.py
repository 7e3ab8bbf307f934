"""The daemon's lifecycle, in data-flow order, torn down in reverse.

connect (retry) -> bootstrap schema -> seed if empty -> stream on a scheduler -> wait for a
stop signal -> stop scheduling, let the event in flight finish (bounded), close.
"""

from __future__ import annotations

import time

from loguru import logger

from daemon import database, schema, seed
from daemon.config import Config
from daemon.database import Connection
from daemon.errors import SimulatorError
from daemon.retry import with_retry
from daemon.scheduler import TickScheduler
from daemon.signals import StopSignal
from daemon.stream import Streamer


def connect_with_retry(config: Config, stop: StopSignal, purpose: str, attempts: int | None = None) -> Connection:
    pg = config.pg
    logger.bind(event="db.connecting", target=pg.describe()).info("connecting to {target}", target=pg.describe())
    conn = with_retry(
        lambda: database.connect(pg, purpose), stop, pg.describe(), config.retry_max_seconds, deadline_attempts=attempts
    )
    logger.bind(event="db.connected", target=pg.describe()).info(
        "connected to {target}: {version}", target=pg.describe(), version=database.server_version(conn)
    )
    return conn


def prepare_database(conn: Connection, config: Config, stop: StopSignal) -> None:
    """Bootstrap the schema idempotently, then seed when the data tables are empty."""
    schema.bootstrap(conn)
    seed.seed_if_empty(conn, config.seed, stop=stop)


def run(config: Config, stop: StopSignal, bootstrap: bool = True) -> None:
    """Run until ``stop`` is set. Raises SimulatorError subclasses on fatal problems."""
    conn = connect_with_retry(config, stop, "main")
    streamer: Streamer | None = None
    scheduler: TickScheduler | None = None
    try:
        if bootstrap:
            prepare_database(conn, config, stop)
        elif not schema.exists(conn):
            raise SimulatorError("schema missing: run `python -m daemon init` (or the default `run`) first")
        streamer = Streamer(config, stop, conn)
        conn = None  # the streamer owns it now
        streamer.prepare()
        scheduler = TickScheduler(config.stream, streamer.tick)
        scheduler.start()
        s = config.stream
        logger.bind(
            event="stream.start",
            interval=s.interval_seconds,
            jitter_ms=s.max_jitter_ms,
            events_per_tick=s.events_per_tick,
            mix=dict(s.insert_weights),
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
        _teardown(config, stop, scheduler, streamer, conn)
    if streamer is not None and streamer.fatal is not None:
        raise streamer.fatal


def _teardown(
    config: Config,
    stop: StopSignal,
    scheduler: TickScheduler | None,
    streamer: Streamer | None,
    conn: Connection | None,
) -> None:
    """Reverse order; each step guarded so one failure never skips the rest."""
    started = time.monotonic()
    logger.bind(event="shutdown.begin", reason=stop.reason).info(
        "stopping ({reason}): no new ticks, finishing the event in flight", reason=stop.reason
    )
    if scheduler is not None:
        try:
            scheduler.shutdown()
        except Exception as exc:  # noqa: BLE001 - teardown must go on
            logger.bind(event="shutdown.error", step="scheduler").warning("scheduler shutdown failed: {e!r}", e=exc)
    if streamer is not None:
        try:
            if not streamer.wait_idle(config.shutdown_timeout_seconds):
                logger.bind(event="shutdown.cancel").warning(
                    "event still running after {t}s: cancelling it (it rolls back)", t=config.shutdown_timeout_seconds
                )
                streamer.cancel_in_flight()
                streamer.wait_idle(2.0)
            streamer.log_summary()
        except Exception as exc:  # noqa: BLE001
            logger.bind(event="shutdown.error", step="streamer").warning("stream stop failed: {e!r}", e=exc)
        streamer.close()
    database.close_quietly(conn)
    logger.bind(event="shutdown.complete", seconds=round(time.monotonic() - started, 3)).info(
        "shutdown complete in {seconds:.2f}s", seconds=time.monotonic() - started
    )
