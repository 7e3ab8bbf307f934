"""Large seeds: drop foreign keys and secondary indexes inside the seed transaction, rebuild after.

Per-row foreign-key lookups cap COPY at ~50k rows/s on 2 cores; rebuilding in bulk (as
pg_restore does) is several times faster. All of it happens inside the one seed transaction, so a
crash or a stop leaves data and schema exactly as they were. Readers of the seven tables wait for
the commit meanwhile (the tables were empty anyway).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg2
from loguru import logger
from psycopg2 import sql

from daemon.pg import sqlfiles


@dataclass(frozen=True)
class Deferred:
    """Secondary indexes and foreign keys dropped for a large load, to be rebuilt before commit."""

    indexes: list[tuple[str, str]]  # (index, CREATE INDEX statement)
    foreign_keys: list[tuple[str, str, str]]  # (table, constraint, definition)


def defer_checks(cur, tables: Sequence[str]) -> Deferred | None:
    """Drop the foreign keys and plain secondary indexes of the seven tables, inside the seed
    transaction, so the load does no per-row FK lookup nor random index insertion: they are
    rebuilt in bulk afterwards (as pg_restore does), before the commit. Primary keys, unique
    constraints and replica-identity indexes stay. Readers of these tables wait for the commit.

    Returns None (and changes nothing) when we may not alter the tables, e.g. not their owner.
    """
    cur.execute(sqlfiles.load("seed_foreign_keys"), (list(tables),))
    foreign_keys = cur.fetchall()
    cur.execute(sqlfiles.load("seed_secondary_indexes"), (list(tables),))
    indexes = cur.fetchall()
    cur.execute("SAVEPOINT seed_defer")
    try:
        for table, name, _ in foreign_keys:
            cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.SQL(table), sql.Identifier(name)))
        for index, _ in indexes:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))
    except psycopg2.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT seed_defer")
        logger.bind(event="seed.checks_kept", reason=str(exc).strip().splitlines()[0]).warning(
            "seed keeps foreign keys and indexes in place (slower): {reason}",
            reason=str(exc).strip().splitlines()[0],
        )
        return None
    cur.execute("RELEASE SAVEPOINT seed_defer")
    return Deferred(indexes=indexes, foreign_keys=foreign_keys)


def restore_checks(cur, deferred: Deferred) -> None:
    """Rebuild the dropped indexes and re-add (and so validate) the foreign keys."""
    logger.bind(event="seed.checks", phase="start").info(
        "rebuilding {indexes} indexes and validating {foreign_keys} foreign keys",
        indexes=len(deferred.indexes),
        foreign_keys=len(deferred.foreign_keys),
    )
    started = time.perf_counter()
    for _, create in deferred.indexes:
        cur.execute(create)
    for table, name, definition in deferred.foreign_keys:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
        )
    fields = dict(
        phase="done",
        indexes=len(deferred.indexes),
        foreign_keys=len(deferred.foreign_keys),
        seconds=round(time.perf_counter() - started, 3),
    )
    logger.bind(event="seed.checks", **fields).info(
        "rebuilt {indexes} indexes and validated {foreign_keys} foreign keys in bulk ({seconds:.2f}s)", **fields
    )
