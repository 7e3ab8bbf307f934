"""Stop handling: the first SIGTERM/SIGINT only flips state; a second one exits at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """Replaces the default action (exit); the wakeup fd delivers the signal to ``StopSignal``."""


class StopSignal:
    """A stop flag every wait in the daemon blocks on (``stop.wait(t)`` instead of ``sleep``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        self._cancellers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        """Route SIGTERM and SIGINT here (main thread only).

        The Python-level handler does nothing: it runs in the main thread between two bytecodes,
        possibly while that thread holds the lock inside ``threading.Event`` (``stop.wait``), so
        setting the event there could deadlock. Instead the interpreter writes each signal's
        number to a pipe (``signal.set_wakeup_fd``) and a relay thread acts on it.
        """
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _ignore)
        threading.Thread(target=self._relay, args=(read_end,), name="signal-relay", daemon=True).start()

    def _relay(self, read_end: int) -> None:
        while True:
            for signum in os.read(read_end, 64):
                if signum in (signal.SIGTERM, signal.SIGINT):
                    self.handle(signum)

    def handle(self, signum: int) -> None:
        """A stop signal arrived: the first requests a graceful stop, a second exits at once."""
        if self._event.is_set():
            os._exit(128 + signum)  # second signal: the operator wants out now
        self.signum = signum
        self._event.set()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds; True when a stop was requested."""
        return self._event.wait(timeout)

    @contextmanager
    def cancelling(self, cancel: Callable[[], None]) -> Iterator[None]:
        """While the block runs, a stop calls ``cancel`` (e.g. a connection's cancel()) via interrupt()."""
        with self._lock:
            self._cancellers.append(cancel)
        try:
            yield
        finally:
            with self._lock:
                self._cancellers.remove(cancel)

    def interrupt(self) -> None:
        """Cancel whatever blocking work registered itself (called by the supervising main thread)."""
        with self._lock:
            cancellers = list(self._cancellers)
        for cancel in cancellers:
            try:
                cancel()
            except Exception:  # noqa: BLE001 - best effort: the work may have just finished
                pass

    @property
    def reason(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "request"
