"""Replication slots on the database: lag and activity, for metrics and the doctor."""

from __future__ import annotations

from dataclasses import dataclass

from daemon.config import PgSettings
from daemon.metrics import Metrics
from daemon.pg import connection, sqlfiles
from daemon.pg.connection import Cursor


@dataclass(frozen=True)
class Slot:
    name: str
    plugin: str | None
    kind: str
    active: bool
    lag_bytes: int


def list_slots(cur: Cursor) -> list[Slot]:
    cur.execute(sqlfiles.load("replication_slots"))
    return [Slot(*row) for row in cur.fetchall()]


def observe(pg: PgSettings, metrics: Metrics) -> None:
    """Refresh the slot gauges (called on each /metrics scrape, with its own short connection)."""
    try:
        conn = connection.connect(pg, "metrics")
        try:
            with connection.transaction(conn) as cur:
                found = list_slots(cur)
        finally:
            connection.close_quietly(conn)
    except Exception:
        metrics.slot_lag.clear()  # unknown now: no stale values
        metrics.slot_active.clear()
        raise
    metrics.slot_lag.clear()
    metrics.slot_active.clear()
    for slot in found:
        metrics.slot_lag.labels(slot.name).set(slot.lag_bytes)
        metrics.slot_active.labels(slot.name).set(1 if slot.active else 0)
