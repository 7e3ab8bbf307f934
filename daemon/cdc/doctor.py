"""`python -m daemon doctor`: is this database ready for Debezium's PostgreSQL connector?

Each check prints PASS, WARN or FAIL with what to do about it; exit 0 only when nothing FAILs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from daemon.cdc import slots
from daemon.config import Config
from daemon.pg import connection, sqlfiles
from daemon.pg.connection import Cursor, Row, fetch_one, transaction
from daemon.pg.tables import TABLES

IDENTITY = {"d": "default", "f": "full", "n": "nothing", "i": "index"}
SLOT_LAG_WARN_BYTES = 1024**3  # an idle slot holding 1 GiB of WAL deserves attention


@dataclass(frozen=True)
class Check:
    status: str  # PASS | WARN | FAIL
    item: str
    detail: str
    fix: str = ""


def run_checks(cur: Cursor, config: Config) -> list[Check]:
    checks: list[Check] = []
    cur.execute(sqlfiles.load("doctor_settings"))
    wal_level, max_slots, used_slots, max_senders, used_senders, encoding, version = fetch_one(cur)
    checks.append(
        Check("PASS", "wal_level", wal_level)
        if wal_level == "logical"
        else Check("FAIL", "wal_level", wal_level, "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL")
    )
    free_slots = max_slots - used_slots
    checks.append(_headroom("max_replication_slots", max_slots, used_slots, free_slots))
    checks.append(_headroom("max_wal_senders", max_senders, used_senders, max_senders - used_senders))
    checks.append(
        Check("PASS", "encoding", encoding)
        if encoding == "UTF8"
        else Check(
            "FAIL", "encoding", encoding, "Debezium supports UTF-8 only: create the database WITH ENCODING 'UTF8'"
        )
    )
    checks.append(
        Check(
            "PASS" if version >= 100000 else "FAIL",
            "server_version",
            str(version),
            "" if version >= 100000 else "pgoutput needs PostgreSQL 10 or newer",
        )
    )

    cur.execute(sqlfiles.load("doctor_tables"), {"tables": list(TABLES)})
    rows = cur.fetchall()
    missing = [name for name, present, _, _ in rows if not present]
    checks.append(
        Check("FAIL", "tables", f"missing: {', '.join(missing)}", "run `python -m daemon init`")
        if missing
        else Check("PASS", "tables", "all 7 present")
    )
    no_pk = [name for name, present, _, pk in rows if present and not pk]
    checks.append(
        Check("FAIL", "primary keys", f"without PK: {', '.join(no_pk)}", "add a primary key")
        if no_pk
        else Check("PASS", "primary keys", "every table has one")
    )
    checks += _identity_checks(rows, config.cdc.replica_identity)
    checks.append(_publication_check(cur, config.cdc.publication))
    for slot in slots.list_slots(cur):
        status = "PASS"
        fix = ""
        if not slot.active and slot.lag_bytes > SLOT_LAG_WARN_BYTES:
            status, fix = (
                "WARN",
                f"inactive slot retains WAL: resume its consumer or SELECT pg_drop_replication_slot('{slot.name}')",
            )
        checks.append(
            Check(
                status,
                f"slot {slot.name}",
                f"{slot.plugin or slot.kind}, {'active' if slot.active else 'inactive'}, lag {slot.lag_bytes:,} bytes",
                fix,
            )
        )
    return checks


def _headroom(item: str, maximum: int, used: int, free: int) -> Check:
    detail = f"{maximum} (in use: {used})"
    if maximum == 0:
        return Check("FAIL", item, detail, f"set {item} >= 1 (restart needed)")
    if free <= 0:
        return Check("WARN", item, detail, f"no free capacity for a new connector: raise {item}")
    return Check("PASS", item, detail)


def _identity_checks(rows: list[Row], wanted: str | None) -> list[Check]:
    out = []
    for name, present, ident, _ in rows:
        if not present:
            continue
        mode = IDENTITY.get(ident, str(ident))
        if mode == "nothing":
            out.append(
                Check(
                    "FAIL",
                    f"replica identity {name}",
                    mode,
                    f"ALTER TABLE {name} REPLICA IDENTITY DEFAULT (updates/deletes are not published)",
                )
            )
        elif wanted and mode != wanted:
            out.append(
                Check(
                    "FAIL",
                    f"replica identity {name}",
                    mode,
                    f"CDC_REPLICA_IDENTITY={wanted} is configured: run `python -m daemon init`",
                )
            )
        elif mode == "default":
            out.append(
                Check(
                    "WARN",
                    f"replica identity {name}",
                    mode,
                    "before-images hold only the key and unchanged TOAST values arrive as "
                    "__debezium_unavailable_value; use CDC_REPLICA_IDENTITY=full for complete images",
                )
            )
        else:
            out.append(Check("PASS", f"replica identity {name}", mode))
    return out


def _publication_check(cur: Cursor, name: str | None) -> Check:
    if not name:
        return Check(
            "WARN",
            "publication",
            "none configured (CDC_PUBLICATION)",
            "set CDC_PUBLICATION and run `python -m daemon init`, or let Debezium autocreate it "
            "(needs table ownership)",
        )
    cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,))
    if cur.fetchone() is None:
        return Check("FAIL", "publication", f"{name} does not exist", "run `python -m daemon init`")
    cur.execute(sqlfiles.load("publication_tables"), {"pub": name})
    present = {row[0] for row in cur.fetchall()}
    missing = [t for t in TABLES if t not in present]
    if missing:
        return Check("FAIL", "publication", f"{name} lacks {', '.join(missing)}", "run `python -m daemon init`")
    return Check("PASS", "publication", f"{name} contains the 7 tables")


def doctor(config: Config, stdout: TextIO = sys.stdout) -> int:
    conn = connection.connect(config.pg, "doctor")
    try:
        with transaction(conn) as cur:
            checks = run_checks(cur, config)
    finally:
        connection.close_quietly(conn)
    print(f"Debezium readiness of {config.pg.describe()}", file=stdout)
    for check in checks:
        line = f"{check.status:<5} {check.item:<34} {check.detail}"
        print(line + (f"\n      fix: {check.fix}" if check.fix and check.status != "PASS" else ""), file=stdout)
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "WARN" for c in checks)
    print(f"{len(checks)} checks: {len(checks) - failed - warned} pass, {warned} warn, {failed} fail", file=stdout)
    return 1 if failed else 0
