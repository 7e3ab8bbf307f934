"""Run `python -m daemon` as a real process and follow its output."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class DaemonProcess:
    def __init__(self, env: dict[str, str], *args: str, cwd: Path | None = None) -> None:
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PG_", "SEED_", "LOG_", "STREAM_", "CDC_", "HTTP_"))
        }
        full_env["HTTP_PORT"] = "0"  # probes off unless a test asks (8080 may be taken on this machine)
        full_env.update(env)
        full_env["PYTHONPATH"] = str(REPO)
        self.lines: list[str] = []
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

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send ``sig``; return the exit code and how long the process took to exit."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.wait(timeout, f"of {sig!r}")
        return code, time.monotonic() - started

    def wait(self, timeout: float = 60.0, after: str = "") -> int:
        """The exit code; fail (never hang) after ``timeout``."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"process did not exit within {timeout}s {after}; output:\n{self.output}") from None
        self._reader.join(timeout=5)
        return code

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
    p = DaemonProcess(env, *args, cwd=cwd)
    try:
        return p.wait(timeout), p.output
    finally:
        p.kill()
