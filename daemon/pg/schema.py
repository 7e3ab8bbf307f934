"""Schema bootstrap and teardown, serialised across replicas by an advisory lock."""

from __future__ import annotations

from loguru import logger
from psycopg2.extensions import cursor

from daemon.cdc import setup as cdc_setup
from daemon.config import CdcSettings
from daemon.pg import sqlfiles
from daemon.pg.connection import Connection, transaction
from daemon.pg.tables import TABLES

# Advisory-lock key shared by every replica for bootstrap and seed ("HOSPSIM" in ASCII, fits int8).
ADVISORY_LOCK_KEY = 0x484F535053494D


def lock(cur: cursor) -> None:
    """Take the bootstrap/seed lock for the rest of the transaction (waits for other replicas).

    Waiting for a replica that seeds millions of rows, and seeding them, takes longer than the
    per-event statement_timeout: that timeout is lifted for this transaction.
    """
    cur.execute("SET LOCAL statement_timeout = 0")
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))


def bootstrap(conn: Connection, cdc: CdcSettings | None = None) -> None:
    """Create tables, triggers, indexes and lookups if missing (and the CDC objects configured).

    A no-op when all exist.
    """
    with transaction(conn) as cur:
        lock(cur)
        created = not _exists(cur)
        for name in ("01_schema", "02_indexes", "03_seed_lookups"):
            cur.execute(sqlfiles.load(name))
        if cdc is not None:
            cdc_setup.apply(cur, cdc)
    logger.bind(event="schema.ready", created=created).info(
        "schema {state}: 7 tables, 9 indexes, lookups SUS and SaudePlus",
        state="created" if created else "already present",
    )


def drop(conn: Connection) -> None:
    """Drop every table and function the bootstrap creates."""
    with transaction(conn) as cur:
        lock(cur)
        cur.execute(sqlfiles.load("99_drop_all"))
    logger.bind(event="schema.dropped").warning("schema dropped: all seven tables and their data")


def exists(conn: Connection) -> bool:
    """True when all seven tables are present."""
    with transaction(conn) as cur:
        return _exists(cur)


def _exists(cur) -> bool:
    cur.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY(%s)", (list(TABLES),)
    )
    return cur.fetchone()[0] == len(TABLES)
