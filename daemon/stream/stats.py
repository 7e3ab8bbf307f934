"""What the stream achieved: ticks, committed changes per table and operation, failures per kind.

Shared by the writer threads (counts are taken under a lock) and reported as the periodic
``stream.summary`` line.
"""

from __future__ import annotations

import threading
from collections import Counter

from loguru import logger

from daemon.cdc.ledger import Change
from daemon.stream.pacer import Rates

log = logger.bind(channel="stream")
SUMMARY_TABLES = ("consultas", "exames", "internacoes", "pacientes")  # always listed, even at 0
NOTHING_TO_DO = "nothing_to_do"  # a failure kind that is no failure: no kind had anything to change


class StreamStats:
    def __init__(self) -> None:
        self.committed: Counter[tuple[str, str]] = Counter()  # keyed by (table, op)
        self.failures: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()  # committed events per kind (STREAM_*_WEIGHTS key)
        self.fallbacks: Counter[str] = Counter()  # kinds drawn that had nothing to do (another was drawn)
        self.ticks = 0
        self._lock = threading.Lock()

    def count_change(self, change: Change, kind: str) -> None:
        with self._lock:
            self.committed[(change.table, change.op)] += 1
            self.kinds[kind] += 1

    def count_fallback(self, kind: str) -> None:
        with self._lock:
            self.fallbacks[kind] += 1

    def count_failure(self, kind: str) -> None:
        with self._lock:
            self.failures[kind] += 1

    def count_tick(self) -> int:
        """Count a finished tick; returns how many ticks ran so far."""
        with self._lock:
            self.ticks += 1
            return self.ticks

    def summary(self) -> str:
        """``consultas: 3 | exames: 1 | ... | falhas: 0 (insert 3, update 1, delete 0)``."""
        per_table: Counter[str] = Counter()
        per_op: Counter[str] = Counter()
        for (table, op), n in self.committed.items():
            per_table[table] += n
            per_op[op] += n
        parts = [f"{table}: {per_table[table]}" for table in SUMMARY_TABLES]
        parts += [f"{table}: {n}" for table, n in sorted(per_table.items()) if table not in SUMMARY_TABLES]
        parts.append(f"falhas: {sum(self.failures.values()) - self.failures[NOTHING_TO_DO]}")
        ops = ", ".join(f"{op} {per_op[op]}" for op in ("insert", "update", "delete"))
        return " | ".join(parts) + f" ({ops})"

    def log_summary(self, rates: Rates | None = None) -> None:
        """The ``stream.summary`` event; ``rates`` (rate mode) adds target and achieved events/s."""
        extra: dict[str, float] = {}
        if rates is not None:
            extra = {"target_rate": round(rates.target, 2), "achieved_rate": round(rates.achieved, 2)}
        log.bind(
            event="stream.summary",
            ticks=self.ticks,
            committed={f"{t}.{o}": n for (t, o), n in sorted(self.committed.items())},
            failures=dict(self.failures),
            fallbacks=dict(self.fallbacks),
            **extra,
        ).info(
            "Stream ciclo {ticks}: {summary}{rate}",
            ticks=self.ticks,
            summary=self.summary(),
            rate=f" | {extra['achieved_rate']}/{extra['target_rate']} ev/s" if extra else "",
        )
