"""Run `python -m daemon` as a real process and follow its output."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon import catalogue
from tests.support import REPO
from tests.support.env import clean

# How long a graceful stop (SIGTERM) may take: the daemon's ceiling for the event in flight plus a
# margin for a loaded machine. Tests check that the daemon stops, not how fast (see bench/).
GRACEFUL_STOP_SECONDS = float(catalogue.default("SHUTDOWN_TIMEOUT_SECONDS")) + 5


class DaemonProcess:
    def __init__(self, env: dict[str, str], *args: str, cwd: Path | None = None) -> None:
        full_env = clean(os.environ)
        full_env["HTTP_PORT"] = "0"  # probes off unless a test asks (8080 may be taken on this machine)
        full_env.update(env)
        full_env["PYTHONPATH"] = str(REPO)
        self.lines: list[str] = []
        self.returncode: int | None = None  # set once the process has exited and been waited for
        self.stop_seconds: float | None = None  # how long the last terminate() took
        self._queue: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", *args],
            env=full_env,
            cwd=cwd or REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """Block until a line containing ``text`` appears; fail (never hang) after ``timeout``."""
        deadline = time.monotonic() + timeout
        for line in list(self.lines):
            if text in line:
                return line
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self._queue.empty():
                    break
                continue
            if text in line:
                return line
        raise AssertionError(f"no line containing {text!r} within {timeout}s; output:\n" + self.output)

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = GRACEFUL_STOP_SECONDS + 15) -> tuple[int, float]:
        """Send ``sig``; return the exit code and how long the process took to exit."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.wait(timeout, f"of {sig!r}")
        self.stop_seconds = time.monotonic() - started
        return code, self.stop_seconds

    def wait(self, timeout: float = 60.0, after: str = "") -> int:
        """The exit code; fail (never hang) after ``timeout``."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"process did not exit within {timeout}s {after}; output:\n{self.output}") from None
        self._reader.join(timeout=5)
        self.returncode = code
        return code

    def count(self, text: str) -> int:
        """Lines so far containing ``text``."""
        return sum(text in line for line in list(self.lines))

    def wait_for_count(self, text: str, n: int, timeout: float = 60.0) -> None:
        """Block until ``n`` lines contain ``text``; fail (never hang) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.count(text) < n:
            exited = self.proc.poll() is not None
            if exited:
                self._reader.join(timeout=5)  # the rest of its output
                if self.count(text) >= n:
                    return
            if exited or time.monotonic() > deadline:
                raise AssertionError(f"fewer than {n} lines containing {text!r} within {timeout}s:\n{self.output}")
            time.sleep(0.05)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        """Make sure the process is gone and its pipe closed (idempotent)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()


def run(env: dict[str, str], *args: str, timeout: float = 60.0, cwd: Path | None = None) -> tuple[int, str]:
    """Run a command to its end: its exit code and output."""
    p = DaemonProcess(env, *args, cwd=cwd)
    try:
        return p.wait(timeout), p.output
    finally:
        p.kill()


@contextmanager
def daemon_process(
    env: dict[str, str],
    *args: str,
    ready: str | None = None,
    timeout: float = 60.0,
    stop: bool = True,
    cwd: Path | None = None,
) -> Iterator[DaemonProcess]:
    """``python -m daemon *args`` with ``env`` (the project's variables of this shell removed).

    Waits for a line containing ``ready`` (a log event's message) before handing the process over.
    When the block ends normally and the process still runs, it is stopped with SIGTERM (``stop``);
    afterwards ``returncode``, ``stop_seconds`` and ``output`` tell how it went. Whatever happens,
    the process is killed and its pipe closed on exit.
    """
    daemon = DaemonProcess(env, *args, cwd=cwd)
    try:
        if ready is not None:
            daemon.wait_for(ready, timeout=timeout)
        yield daemon
        if stop and daemon.proc.poll() is None:
            daemon.terminate()
    finally:
        daemon.kill()
