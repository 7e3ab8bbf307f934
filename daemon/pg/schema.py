"""Schema bootstrap and teardown, serialised across replicas by an advisory lock."""

from __future__ import annotations

from loguru import logger

from daemon.data import brazil
from daemon.pg import sqlfiles
from daemon.pg.connection import Connection, Cursor, fetch_one, transaction
from daemon.pg.tables import TABLES

# Advisory-lock key shared by every replica for bootstrap and seed ("HOSPSIM" in ASCII, fits int8).
ADVISORY_LOCK_KEY = 0x484F535053494D


def lock(cur: Cursor) -> None:
    """Take the bootstrap/seed lock for the rest of the transaction (waits for other replicas).

    Waiting for a replica that seeds millions of rows, and seeding them, takes longer than the
    per-event statement_timeout: that timeout is lifted for this transaction.
    """
    cur.execute("SET LOCAL statement_timeout = 0")
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))


def create(cur: Cursor) -> bool:
    """Create tables, triggers, indexes and lookups if missing; True when the tables were new.

    Runs in the caller's transaction, after :func:`lock`.
    """
    created = not tables_exist(cur)
    for name in ("01_schema", "02_indexes", "03_seed_lookups", "04_stream_state"):
        cur.execute(sqlfiles.load(name))
    cur.execute(sqlfiles.load("cpf_function"), {"a": brazil.CPF_A, "b": brazil.CPF_B, "space": brazil.CPF_SPACE})
    return created


def report_ready(created: bool) -> None:
    """Log the ``schema.ready`` event (once the bootstrap transaction committed)."""
    logger.bind(event="schema.ready", created=created).info(
        "schema {state}: 7 tables, 9 named indexes and 6 for the stream's picks, lookups SUS and SaudePlus",
        state="created" if created else "already present",
    )


def bootstrap(conn: Connection) -> None:
    """The schema step alone, in its own transaction under the lock; a no-op when all exist.

    The daemon's bootstrap (``daemon.bootstrap``) adds the CDC objects in the same transaction.
    """
    with transaction(conn) as cur:
        lock(cur)
        created = create(cur)
    report_ready(created)


def drop(conn: Connection) -> None:
    """Drop every table and function the bootstrap creates."""
    with transaction(conn) as cur:
        lock(cur)
        cur.execute(sqlfiles.load("99_drop_all"))
    logger.bind(event="schema.dropped").warning("schema dropped: all seven tables and their data")


def exists(conn: Connection) -> bool:
    """True when all seven tables are present."""
    with transaction(conn) as cur:
        return tables_exist(cur)


def tables_exist(cur: Cursor) -> bool:
    """True when all seven tables are present (in the caller's transaction)."""
    cur.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY(%s)", (list(TABLES),)
    )
    return int(fetch_one(cur)[0]) == len(TABLES)
