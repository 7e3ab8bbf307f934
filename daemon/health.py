"""Liveness and readiness state shared by the stream and the probe server."""

from __future__ import annotations

import threading
import time


class Health:
    """``alive``: before streaming, always; then the stream made progress recently (a tick, an event
    or a reconnect attempt).

    ``ready``: the database answered last time we used it, and schema and seed are done.
    """

    def __init__(self, stall_seconds: float, clock=time.monotonic) -> None:
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

    def alive(self) -> tuple[bool, str]:
        with self._lock:
            if not self._prepared:
                return True, "ok"  # connecting, bootstrapping or seeding: bounded by timeouts, not by beats
            idle = self._clock() - self._last_beat
        if idle > self.stall_seconds:
            return False, f"stream stalled: no progress for {idle:.0f}s (limit {self.stall_seconds:.0f}s)"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            if not self._prepared:
                return False, "starting: schema or seed not done"
            if not self._db_ok:
                return False, "database unreachable"
        return True, "ok"
