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
from typing import NamedTuple

import psycopg2
from loguru import logger
from psycopg2 import sql

from daemon.errors import first_line
from daemon.pg import sqlfiles
from daemon.pg.connection import Cursor


class SecondaryIndex(NamedTuple):
    name: str  # as ``::regclass::text`` prints it
    create: str  # its CREATE INDEX statement


class ForeignKey(NamedTuple):
    table: str
    name: str
    definition: str  # FOREIGN KEY (...) REFERENCES ...


@dataclass(frozen=True)
class Deferred:
    """Secondary indexes and foreign keys dropped for a large load, to be rebuilt before commit."""

    indexes: list[SecondaryIndex]
    foreign_keys: list[ForeignKey]


def defer_checks(cur: Cursor, tables: Sequence[str]) -> Deferred | None:
    """Drop the foreign keys and plain secondary indexes of the seven tables, inside the seed
    transaction, so the load does no per-row FK lookup nor random index insertion: they are
    rebuilt in bulk afterwards (as pg_restore does), before the commit. Primary keys, unique
    constraints and replica-identity indexes stay. Readers of these tables wait for the commit.

    Returns None (and changes nothing) when we may not alter the tables, e.g. not their owner.
    """
    cur.execute(sqlfiles.load("seed_foreign_keys"), (list(tables),))
    foreign_keys = [ForeignKey(*row) for row in cur.fetchall()]
    cur.execute(sqlfiles.load("seed_secondary_indexes"), (list(tables),))
    indexes = [SecondaryIndex(*row) for row in cur.fetchall()]
    cur.execute("SAVEPOINT seed_defer")
    try:
        for fk in foreign_keys:
            cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.SQL(fk.table), sql.Identifier(fk.name)))
        for index in indexes:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index.name)))
    except psycopg2.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT seed_defer")
        reason = first_line(exc)
        logger.bind(event="seed.checks_kept", reason=reason).warning(
            "seed keeps foreign keys and indexes in place (slower): {reason}", reason=reason
        )
        return None
    cur.execute("RELEASE SAVEPOINT seed_defer")
    return Deferred(indexes=indexes, foreign_keys=foreign_keys)


def restore_checks(cur: Cursor, deferred: Deferred) -> None:
    """Rebuild the dropped indexes and re-add (and so validate) the foreign keys."""
    logger.bind(event="seed.checks", phase="start").info(
        "rebuilding {indexes} indexes and validating {foreign_keys} foreign keys",
        indexes=len(deferred.indexes),
        foreign_keys=len(deferred.foreign_keys),
    )
    started = time.perf_counter()
    for index in deferred.indexes:
        cur.execute(index.create)
    for fk in deferred.foreign_keys:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(fk.table), sql.Identifier(fk.name), sql.SQL(fk.definition)
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
