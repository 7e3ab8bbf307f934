"""Connecting with retry: exponential backoff with jitter, interruptible by a stop signal."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from loguru import logger

from daemon.errors import DatabaseUnavailable, StopRequested
from daemon.signals import StopSignal

T = TypeVar("T")
# Reconnect backoff starts small (doubling up to RETRY_MAX_SECONDS): a blip costs half a second.
RETRY_INITIAL_SECONDS = 0.5


def backoff_delays(initial: float, cap: float, rng: random.Random) -> Callable[[int], float]:
    """Delay before attempt n+1: doubling from ``initial``, capped, with +-20 % jitter."""

    def delay(attempt: int) -> float:
        base = min(cap, initial * (2 ** min(attempt - 1, 30)))
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
