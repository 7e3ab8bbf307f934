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
DELIBERATE_ROLLBACK = "deliberate_rollback"  # an episode built to fail (STREAM_EPISODE_FAILURE_SHARE)
NOT_FAILURES = (NOTHING_TO_DO, DELIBERATE_ROLLBACK)


class StreamStats:
    def __init__(self) -> None:
        self.committed: Counter[tuple[str, str]] = Counter()  # keyed by (table, op)
        self.failures: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()  # committed events per kind (STREAM_*_WEIGHTS key)
        self.episodes = 0  # committed episodes (several changes, one transaction)
        self.episode_changes = 0  # changes committed inside them
        self.fallbacks: Counter[str] = Counter()  # kinds drawn that had nothing to do (another was drawn)
        self.ticks = 0
        self._lock = threading.Lock()

    def count_change(self, change: Change) -> None:
        with self._lock:
            self.committed[(change.table, change.op)] += 1

    def count_event(self, kind: str, episode_changes: int = 0) -> None:
        """A committed event of ``kind``; an episode also counts its changes."""
        with self._lock:
            self.kinds[kind] += 1
            if episode_changes:
                self.episodes += 1
                self.episode_changes += episode_changes

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
        # the opt-in tables; "" is the logical decoding messages' (no table)
        others = sorted((t, n) for t, n in per_table.items() if t not in SUMMARY_TABLES)
        parts += [f"{table or 'mensagens'}: {n}" for table, n in others]
        real = sum(n for kind, n in self.failures.items() if kind not in NOT_FAILURES)
        parts.append(f"falhas: {real}")
        ops = ", ".join(f"{op} {per_op[op]}" for op in ("insert", "update", "delete"))
        ops += "".join(f", {op} {n}" for op, n in sorted(per_op.items()) if op not in ("insert", "update", "delete"))
        episodes = f", {self.episodes} episódios com {self.episode_changes} mudanças" if self.episodes else ""
        return " | ".join(parts) + f" ({ops}{episodes})"

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
            episodes=self.episodes,
            episode_changes=self.episode_changes,
            **extra,
        ).info(
            "Stream ciclo {ticks}: {summary}",
            ticks=self.ticks,
            # one string field (a separate ``rate`` text would clash with seed's numeric ``rate``)
            summary=self.summary() + (f" | {extra['achieved_rate']}/{extra['target_rate']} ev/s" if extra else ""),
        )
