"""Ground truth: one JSON line per committed change, written only after the commit succeeded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from daemon.events import Change


class Ledger:
    """Appends ``{"table","op","pk","txid","committed_at"}`` lines; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8", buffering=1)  # line-buffered: a crash loses no line
        self._lock = threading.Lock()

    def record(self, change: Change) -> None:
        line = json.dumps(
            {
                "table": change.table,
                "op": change.op,
                "pk": change.pk,
                "txid": change.txid,
                "committed_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            }
        )
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                self._file.close()


def read_ledger(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON ledger line ({exc.msg})") from None
