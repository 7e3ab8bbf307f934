"""Progress of a long seed: ``seed.progress`` lines with rows, rate and ETA."""

from __future__ import annotations

import time

from loguru import logger

PROGRESS_SECONDS = 2.0  # seconds between seed.progress lines while a table loads


class Progress:
    """``seed.progress`` lines every PROGRESS_SECONDS while a table loads: rows, rate, ETA."""

    def __init__(self, seed_total: int) -> None:
        self.seed_total = seed_total
        self.seed_rows = 0
        self.started = time.perf_counter()

    def table(self, table: str, total: int) -> None:
        self.name, self.total, self.rows = table, total, 0
        self.table_started = self.last = time.perf_counter()

    def advance(self, rows: int) -> None:
        self.rows += rows
        self.seed_rows += rows
        now = time.perf_counter()
        if now - self.last < PROGRESS_SECONDS or self.rows >= self.total:
            return
        self.last = now
        rate = self.rows / max(now - self.table_started, 1e-9)
        seed_rate = self.seed_rows / max(now - self.started, 1e-9)
        fields = dict(
            table=self.name,
            rows=self.rows,
            total=self.total,
            rate=round(rate),
            eta_seconds=round((self.total - self.rows) / rate, 1),
            seed_rows=self.seed_rows,
            seed_total=self.seed_total,
            seed_percent=round(100 * self.seed_rows / max(self.seed_total, 1), 1),
            seed_eta_seconds=round((self.seed_total - self.seed_rows) / seed_rate, 1),
        )
        logger.bind(event="seed.progress", **fields).info(
            "{table}: {rows}/{total} rows ({rate} rows/s, ETA {eta_seconds:.0f}s); "
            "seed {seed_percent:.0f}% done, ETA {seed_eta_seconds:.0f}s",
            **fields,
        )
