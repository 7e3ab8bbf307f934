"""Talking to the test cluster: admin connections, one-line queries, polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg2

from daemon.pg.cluster import LocalCluster

T = TypeVar("T")


def admin_connect(cluster: LocalCluster, database: str = "postgres"):
    """An autocommit superuser connection to ``database`` on ``cluster``."""
    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname=database)
    conn.autocommit = True
    return conn


def query(conn, sql: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params or None)
        return cur.fetchall()


def wait_until(condition: Callable[[], T], timeout: float = 30.0, what: str = "", interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {what or condition}")
        time.sleep(interval)


def waiting_on_lock(conn, database: str, wait_event: str | None = None) -> int:
    """How many other sessions on ``database`` are blocked on a heavyweight lock (optionally of one kind)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND wait_event_type = 'Lock'"
    )
    params: tuple[Any, ...] = (database,)
    if wait_event is not None:
        sql += " AND wait_event = %s"
        params += (wait_event,)
    query(conn, "SELECT pg_stat_clear_snapshot()")  # inside a transaction, statistics are a snapshot
    return query(conn, sql, params)[0][0]


def line_count(path) -> int:
    """Lines in a file that may not exist yet (a ledger being written)."""
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def only(changes: list) -> object | None:
    """The one change of a single-change event (None when nothing committed)."""
    assert len(changes) <= 1, changes
    return changes[0] if changes else None
