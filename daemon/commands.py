"""Operator subcommands other than the daemon itself: init, seed, reset, counts, check."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TextIO

from loguru import logger

from daemon.bootstrap import bootstrap_database
from daemon.config import Config
from daemon.errors import SimulatorError
from daemon.pg import connection, schema, sqlfiles
from daemon.pg.connection import Connection, fetch_one, transaction
from daemon.pg.retry import connect_with_retry
from daemon.seed import loader
from daemon.signals import StopSignal

OPS_CONNECT_ATTEMPTS = 3  # operators want an answer, not an endless retry loop


def _work(config: Config, stop: StopSignal, purpose: str, action: Callable[[Connection], None]) -> None:
    """Connect, run ``action`` (its database errors classified), close."""
    conn = connect_with_retry(config, stop, purpose, OPS_CONNECT_ATTEMPTS, then=action)
    connection.close_quietly(conn)


def init(config: Config, stop: StopSignal) -> int:
    _work(config, stop, "init", lambda conn: bootstrap_database(conn, config.cdc, config.schema.extras))
    return 0


def seed_command(config: Config, stop: StopSignal) -> int:
    states: list[str] = []

    def action(conn: Connection) -> None:
        bootstrap_database(conn, config.cdc, config.schema.extras)
        if loader.seed_if_empty(conn, config.seed, stop=stop) is None:
            with transaction(conn) as cur:
                states.append(loader.seed_state(cur).state)

    _work(config, stop, "seed", action)
    return 1 if states == ["partial"] else 0


def reset(
    config: Config, stop: StopSignal, assume_yes: bool, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> int:
    """Drop everything, rebuild and seed; asks first unless ``assume_yes``."""
    target = config.pg.describe()
    if not assume_yes:
        if not stdin.isatty():
            print("reset: refusing to drop data without confirmation; pass --yes in scripts", file=sys.stderr)
            return 2
        stdout.write(f"This drops all seven tables and their data in {target}. Type 'yes' to continue: ")
        stdout.flush()
        if stdin.readline().strip().lower() not in ("yes", "y", "sim", "s"):
            print("reset: cancelled", file=stdout)
            return 1

    def action(conn: Connection) -> None:
        schema.drop(conn)
        bootstrap_database(conn, config.cdc, config.schema.extras)
        loader.seed_if_empty(conn, config.seed, stop=stop)

    _work(config, stop, "reset", action)
    return 0


def counts(config: Config, stop: StopSignal, stdout: TextIO = sys.stdout, as_json: bool = False) -> int:
    """Row count of each table: a table, or ``{"tables": {name: n}, "total": n}`` with ``as_json``."""
    conn = connect_with_retry(config, stop, "counts", OPS_CONNECT_ATTEMPTS)
    try:
        if not schema.exists(conn):
            raise SimulatorError("schema missing: run `python -m daemon init` first")
        with transaction(conn) as cur:
            cur.execute(sqlfiles.load("counts"))
            rows = cur.fetchall()
    finally:
        connection.close_quietly(conn)
    if as_json:
        json.dump({"tables": {t: n for t, n in rows}, "total": sum(n for _, n in rows)}, stdout)
        print(file=stdout)
        return 0
    print("=== Row counts ===", file=stdout)
    for table, n in rows:
        print(f"{table:.<30} {n:>10,}", file=stdout)
    print("─" * 41, file=stdout)
    print(f"{'TOTAL':.<30} {sum(n for _, n in rows):>10,}", file=stdout)
    return 0


def check(config: Config, stdout: TextIO = sys.stdout, as_json: bool = False) -> int:
    """Connectivity probe: one attempt, exit 0 when the server answers, 1 otherwise."""
    try:
        conn = connection.connect(config.pg, "check")
    except SimulatorError as exc:
        if as_json:
            json.dump({"ok": False, "target": config.pg.describe(), "error": str(exc)}, stdout)
            print(file=stdout)
        else:
            print(f"FAIL {exc}", file=stdout)
        return 1
    try:
        version = connection.server_version(conn)
        with transaction(conn) as cur:
            cur.execute("SELECT current_setting('wal_level'), current_setting('server_encoding')")
            wal_level, encoding = fetch_one(cur)
            tls = connection.session_tls(cur)
        present = schema.exists(conn)
    finally:
        connection.close_quietly(conn)
    if as_json:
        facts = {"server": version, "wal_level": wal_level, "encoding": encoding, "schema": present}
        facts["tls"] = {**tls.as_json(), "sslmode": config.pg.sslmode}
        json.dump({"ok": True, "target": config.pg.describe(), **facts}, stdout)
        print(file=stdout)
    else:
        print(f"OK {config.pg.describe()}", file=stdout)
        print(f"server: {version}", file=stdout)
        print(
            f"wal_level: {wal_level}  encoding: {encoding}  schema: {'present' if present else 'missing'}", file=stdout
        )
        print(f"tls: {tls.describe()} (PG_SSLMODE={config.pg.sslmode})", file=stdout)
    logger.bind(event="check.ok").debug("check passed")
    return 0
