"""Connecting with retry: exponential backoff with jitter, interruptible by a stop signal."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg2
from loguru import logger

from daemon.config import Config
from daemon.errors import DatabaseUnavailable, StopRequested
from daemon.pg import connection
from daemon.pg.connection import Connection
from daemon.signals import StopSignal

T = TypeVar("T")
# Reconnect backoff starts small (doubling up to RETRY_MAX_SECONDS): a blip costs half a second.
RETRY_INITIAL_SECONDS = 0.5


def backoff_delays(initial: float, cap: float, rng: random.Random) -> Callable[[int], float]:
    """Delay before attempt n+1: doubling from ``initial``, capped, with +-20 % jitter."""

    def delay(attempt: int) -> float:
        base = min(cap, initial * 2.0 ** min(attempt - 1, 30))
        return base * rng.uniform(0.8, 1.2)

    return delay


def with_retry(
    action: Callable[[], T],
    stop: StopSignal,
    where: str,
    max_delay: float,
    deadline_attempts: int | None = None,
    rng: random.Random | None = None,
    on_attempt: Callable[[], None] | None = None,
) -> T:
    """Call ``action`` until it stops raising DatabaseUnavailable.

    DatabaseRejected (bad password, missing database...) propagates at once: retrying won't help.
    Raises StopRequested when a stop arrives while waiting.
    """
    delay = backoff_delays(RETRY_INITIAL_SECONDS, max_delay, rng or random.Random())
    attempt = 0
    began = time.monotonic()
    while True:
        if stop.is_set():
            raise StopRequested()
        attempt += 1
        if on_attempt is not None:
            on_attempt()  # a retry loop is progress: liveness stays up during an outage
        try:
            result = action()
        except DatabaseUnavailable as exc:
            if deadline_attempts is not None and attempt >= deadline_attempts:
                raise
            wait = delay(attempt)
            remaining = "unlimited" if deadline_attempts is None else str(deadline_attempts - attempt)
            # The outage is logged once (WARNING); later attempts at DEBUG, with a reminder every 10th.
            level = "WARNING" if attempt == 1 else ("INFO" if attempt % 10 == 0 else "DEBUG")
            logger.bind(event="db.retry").log(
                level,
                "database {target} unreachable (attempt {attempt}, {remaining} retries remaining, down {down:.0f}s), "
                "retrying with backoff up to {cap:g}s, next try in {wait:.1f}s: {error}",
                target=where,
                attempt=attempt,
                remaining=remaining,
                down=time.monotonic() - began,
                cap=max_delay,
                wait=wait,
                error=str(exc),
            )
            if stop.wait(wait):
                raise StopRequested() from None
            continue
        if attempt > 1:
            logger.bind(event="db.connected", target=where, attempt=attempt).info(
                "connected to {target} after {attempt} attempts ({down:.1f}s)",
                target=where,
                attempt=attempt,
                down=time.monotonic() - began,
            )
        return result


def connect_with_retry(
    config: Config,
    stop: StopSignal,
    purpose: str,
    attempts: int | None = None,
    on_attempt: Callable[[], None] | None = None,
    then: Callable[[Connection], None] | None = None,
) -> Connection:
    """Connect (and run ``then`` on the new connection), retrying both while the server is unreachable.

    psycopg2 errors from ``then`` are classified: a lost server is retried, a refusal (missing
    privilege, say) is raised as DatabaseRejected naming what the server said. ``on_attempt`` is
    called before each attempt (the lifecycle beats its liveness there).
    """
    pg = config.pg
    logger.bind(event="db.connecting", target=pg.describe()).info("connecting to {target}", target=pg.describe())

    def attempt() -> Connection:
        conn = connection.connect(pg, purpose)
        try:
            logger.bind(event="db.connected", target=pg.describe()).info(
                "connected to {target}: {version}", target=pg.describe(), version=connection.server_version(conn)
            )
            if then is not None:
                with stop.cancelling(conn.cancel):  # a SIGTERM cancels a long bootstrap, lock wait or seed
                    then(conn)
        except psycopg2.Error as exc:
            connection.close_quietly(conn)
            if stop.is_set():
                raise StopRequested() from None
            raise connection.classify(exc, pg) from None
        except BaseException:
            connection.close_quietly(conn)
            raise
        return conn

    return with_retry(
        attempt,
        stop,
        pg.describe(),
        config.retry_max_seconds,
        deadline_attempts=attempts,
        on_attempt=on_attempt,
    )
