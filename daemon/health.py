"""Liveness and readiness state shared by the stream and the probe server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple


class Verdict(NamedTuple):
    ok: bool
    why: str  # "ok", or what is wrong (the probe's response body)


OK = Verdict(True, "ok")


class Health:
    """``alive``: before streaming, always; then the stream made progress recently (a tick, an event
    or a reconnect attempt).

    ``ready``: the database answered last time we used it, and schema and seed are done.
    """

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.stall_seconds = stall_seconds
        self._last_beat = clock()
        self._prepared = False
        self._db_ok = False

    def beat(self) -> None:
        with self._lock:
            self._last_beat = self._clock()

    def set_prepared(self) -> None:
        with self._lock:
            self._prepared = True
            self._db_ok = True

    def set_db_ok(self, ok: bool) -> None:
        with self._lock:
            self._db_ok = ok

    def alive(self) -> Verdict:
        with self._lock:
            if not self._prepared:
                return OK  # connecting, bootstrapping or seeding: bounded by timeouts, not by beats
            idle = self._clock() - self._last_beat
        if idle > self.stall_seconds:
            return Verdict(False, f"stream stalled: no progress for {idle:.0f}s (limit {self.stall_seconds:.0f}s)")
        return OK

    def ready(self) -> Verdict:
        with self._lock:
            if not self._prepared:
                return Verdict(False, "starting: schema or seed not done")
            if not self._db_ok:
                return Verdict(False, "database unreachable")
        return OK
