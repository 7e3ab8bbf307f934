"""Monthly partitions of ``sinais_vitais`` (SCHEMA_EXTRAS=sinais_vitais): ``sinais_vitais_YYYY_MM``.

The parent (``sql/extra_sinais_vitais.sql``) is range-partitioned on ``medido_em``; each month
gets its own partition, bounded at UTC midnight of the month's first day. They are created:

- by the bootstrap, for the current and next month (``ensure``);
- by the seed, for every month its readings fall in;
- while streaming, ahead of time: the streamer checks every few minutes (and at once when the
  month changes) that next month's partition exists (:class:`PartitionKeeper`).

Creation is idempotent (``CREATE TABLE IF NOT EXISTS ... PARTITION OF``, after a look at the
catalogue), serialised between replicas by a transaction-level advisory lock, bounded by a
lock_timeout (creating a partition locks the parent briefly) and logged. A partition joins any
publication that lists the parent by itself: PostgreSQL publishes a partitioned table's present
and future partitions, under the partition's own name unless the publication has
``publish_via_partition_root`` (CDC_PUBLISH_VIA_PARTITION_ROOT), when under the parent's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import psycopg2
from loguru import logger

from daemon.errors import DatabaseRejected, StopRequested
from daemon.pg.connection import Connection, Cursor, borrowed_transaction

PARENT = "sinais_vitais"
PARTITION_LOCK_KEY = 0x48534D5056  # "HSMPV": serialises partition creation between replicas
CHECK_EVERY_SECONDS = 300.0  # while streaming: how often next month's partition is looked for
LOCK_TIMEOUT = "5s"  # creating a partition takes a brief exclusive lock on the parent


def month_of(moment: datetime | date) -> date:
    """The first day of ``moment``'s month (UTC for a datetime)."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_{month.year:04d}_{month.month:02d}"


def months(first: date, last: date) -> list[date]:
    """Every month from ``first``'s to ``last``'s, both included."""
    out, month = [], month_of(first)
    while month <= month_of(last):
        out.append(month)
        month = next_month(month)
    return out


def existing(cur: Cursor) -> set[str]:
    """The partitions the parent has now."""
    cur.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        (PARENT,),
    )
    return {row[0] for row in cur.fetchall()}


def ensure(cur: Cursor, wanted: list[date], reason: str) -> list[str]:
    """Create the partitions of ``wanted`` months that are missing (in the caller's transaction,
    under the partition lock); return the names created."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK_KEY,))
    present = existing(cur)
    cur.execute("SELECT relreplident FROM pg_class WHERE oid = to_regclass(%s)", (PARENT,))
    identity = cur.fetchone()
    created = []
    for month in sorted(set(wanted)):
        name = partition_name(month)
        if name in present:
            continue
        cur.execute("SET LOCAL lock_timeout = %s", (LOCK_TIMEOUT,))
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",
            (f"{month.isoformat()} 00:00:00+00", f"{next_month(month).isoformat()} 00:00:00+00"),
        )
        if identity is not None and identity[0] == "f":  # REPLICA IDENTITY is not inherited: follow the parent
            cur.execute(f"ALTER TABLE {name} REPLICA IDENTITY FULL")
        created.append(name)
    if created:
        cur.execute("SET LOCAL lock_timeout TO DEFAULT")  # the rest of the caller's transaction as it was
        logger.bind(event="schema.partitions_created", partitions=", ".join(created), reason=reason).info(
            "{parent}: partition(s) {partitions} created ({reason})",
            parent=PARENT,
            partitions=", ".join(created),
            reason=reason,
        )
    return created


def ahead(now: datetime) -> list[date]:
    """The months that must have a partition at ``now``: this one and the next."""
    month = month_of(now)
    return [month, next_month(month)]


class PartitionKeeper:
    """While streaming: next month's partition exists before the month begins.

    ``check`` is cheap when nothing is due: it looks at the clock, and at the catalogue only every
    CHECK_EVERY_SECONDS or when the UTC month has changed since the last look.
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        every: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._connect = connect
        self._every = every
        self._clock = clock
        self._now = now
        self._last: float | None = None
        self._month: date | None = None

    def check(self) -> list[str]:
        """Create what is missing when a look is due; return the partitions created."""
        now = self._now()
        if self._last is not None and self._clock() - self._last < self._every and month_of(now) == self._month:
            return []
        self._last, self._month = self._clock(), month_of(now)
        try:
            with borrowed_transaction(self._connect()) as cur:  # the advisory lock lasts to its end
                return ensure(cur, ahead(now), "ahead of time")
        except (StopRequested, DatabaseRejected):  # stopping, or refused: the writers find out and say so
            return []
        except psycopg2.Error as exc:  # e.g. lock_timeout: tried again at the next look
            logger.bind(event="schema.partitions_failed", parent=PARENT).warning(
                "{parent}: could not create next month's partition, will retry: {error}",
                parent=PARENT,
                error=str(exc).strip().splitlines()[0],
            )
            self._last = self._clock() - self._every + 30  # retry in 30 s
            return []
