"""`python -m daemon doctor`: is this database ready for Debezium's PostgreSQL connector?

Each check prints PASS, WARN or FAIL with what to do about it; exit 0 only when nothing FAILs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TextIO

from daemon.cdc import doctor_edges, slots
from daemon.cdc.setup import heartbeat_query
from daemon.config import CdcSettings, Config
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
    checks: list[Check] = [_encryption_check(connection.session_tls(cur), config.pg.sslmode)]
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
    checks += heartbeat_checks(cur, config.cdc)
    checks += [Check(*finding) for finding in doctor_edges.edge_findings(cur, config)]  # SCHEMA_EXTRAS, messages
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


def _encryption_check(tls: connection.SessionTls, sslmode: str) -> Check:
    """This session's TLS, as the server reports it: what the connector can expect from the same server."""
    if tls.encrypted:
        return Check("PASS", "encryption", f"{tls.describe()} (PG_SSLMODE={sslmode})")
    return Check(
        "WARN",
        "encryption",
        f"not encrypted (PG_SSLMODE={sslmode})",
        "fine on a trusted loopback; elsewhere turn ssl on in the server and set PG_SSLMODE=verify-full with "
        "PG_SSLROOTCERT, and the connector's database.sslmode=verify-full with database.sslrootcert",
    )


def _headroom(item: str, maximum: int, used: int, free: int) -> Check:
    detail = f"{maximum} (in use: {used})"
    if maximum == 0:
        return Check("FAIL", item, detail, f"set {item} >= 1 (restart needed)")
    if free <= 0:
        return Check("WARN", item, detail, f"no free capacity for a new connector: raise {item}")
    return Check("PASS", item, detail)


def _identity_checks(rows: list[Row], wanted: str | None) -> list[Check]:
    """One check per distinct finding, naming its tables (not the same warning once per table)."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for check in _identity_per_table(rows, wanted):
        grouped.setdefault((check.status, check.detail, check.fix), []).append(check.item)
    return [
        Check(status, "replica identity", f"{detail}: {', '.join(tables)}", fix)
        for (status, detail, fix), tables in grouped.items()
    ]


def _identity_per_table(rows: list[Row], wanted: str | None) -> list[Check]:
    out = []
    for name, present, ident, _ in rows:
        if not present:
            continue
        mode = IDENTITY.get(ident, str(ident))
        if mode == "nothing":
            out.append(
                Check(
                    "FAIL",
                    name,
                    mode,
                    "ALTER TABLE <table> REPLICA IDENTITY DEFAULT (updates/deletes are not published)",
                )
            )
        elif wanted and mode != wanted:
            out.append(
                Check(
                    "FAIL",
                    name,
                    mode,
                    f"CDC_REPLICA_IDENTITY={wanted} is configured: run `python -m daemon init`",
                )
            )
        elif mode == "default":
            out.append(
                Check(
                    "WARN",
                    name,
                    mode,
                    "before-images hold only the key and unchanged TOAST values arrive as "
                    "__debezium_unavailable_value; use CDC_REPLICA_IDENTITY=full for complete images",
                )
            )
        else:
            out.append(Check("PASS", name, mode))
    return out


def _publication_check(cur: Cursor, name: str | None) -> Check:
    if not name:
        return Check(
            "WARN",
            "publication",
            "none configured (CDC_PUBLICATION)",
            "the shipped connectors (docker/, k8s/) use publication.autocreate.mode=disabled and "
            "publication.name=hospital_pub: set CDC_PUBLICATION=hospital_pub and run `python -m daemon init`",
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


def heartbeat_checks(cur: Cursor, cdc: CdcSettings) -> list[Check]:
    """The heartbeat table exists, is in the publication, and the connector role may write it.

    Debezium only confirms an LSN (letting the slot advance and PostgreSQL recycle WAL) when a change
    of its publication reaches it: while the 7 tables are idle and other databases write WAL, that
    change is the one its heartbeat.action.query makes, in a table that must be in the publication.
    """
    table = cdc.heartbeat_table
    if not table:
        return [
            Check(
                "WARN",
                "heartbeat table",
                "none configured (CDC_HEARTBEAT_TABLE)",
                "set CDC_HEARTBEAT_TABLE=debezium_heartbeat, run `python -m daemon init`, and give the connector "
                "heartbeat.interval.ms and heartbeat.action.query: without them its slot retains all WAL written "
                "while the 7 tables are idle",
            ),
            _connector_role_check(cur, cdc.connector_role, None),
        ]
    cur.execute("SELECT to_regclass(format('%%I.%%I', current_schema(), %s::text))", (table,))
    oid = fetch_one(cur)[0]
    if oid is None:
        return [
            Check("FAIL", "heartbeat table", f"{table} does not exist", "run `python -m daemon init`"),
            _connector_role_check(cur, cdc.connector_role, None),
        ]
    checks = [Check("PASS", "heartbeat table", f"{table}; heartbeat.action.query: {heartbeat_query(table)}")]
    if cdc.publication:
        cur.execute(sqlfiles.load("publication_tables"), {"pub": cdc.publication})
        if table in {row[0] for row in cur.fetchall()}:
            checks.append(Check("PASS", "heartbeat in publication", f"{table} in {cdc.publication}"))
        else:
            checks.append(
                Check(
                    "FAIL",
                    "heartbeat in publication",
                    f"{table} not in {cdc.publication}: heartbeats never reach Debezium, the slot cannot advance "
                    "while the 7 tables are idle",
                    f"run `python -m daemon init` (adds it), or ALTER PUBLICATION {cdc.publication} ADD TABLE {table}",
                )
            )
    checks.append(_connector_role_check(cur, cdc.connector_role, table))
    return checks


def _connector_role_check(cur: Cursor, role: str, heartbeat: str | None) -> Check:
    """LOGIN REPLICATION, SELECT on the 7 tables, INSERT and UPDATE on the heartbeat table."""
    item = f"connector role {role}"
    cur.execute("SELECT rolcanlogin, rolreplication OR rolsuper FROM pg_roles WHERE rolname = %s", (role,))
    attributes = cur.fetchone()
    if attributes is None:
        return Check(
            "WARN",
            item,
            "does not exist",
            "create it (sql/roles.sql) or set CDC_CONNECTOR_ROLE to the connector's database.user",
        )
    problems = [f"no {name}" for name, has in zip(("LOGIN", "REPLICATION"), attributes, strict=True) if not has]
    fixes = [f"ALTER ROLE {role} WITH LOGIN REPLICATION"] if problems else []
    cur.execute("SELECT has_database_privilege(%s, current_database(), 'CONNECT'), current_database()", (role,))
    may_connect, database = fetch_one(cur)
    if not may_connect:
        problems.append(f"no CONNECT on database {database}")
        fixes.append(f"GRANT CONNECT ON DATABASE {database} TO {role}")
    wanted = [(t, "SELECT") for t in TABLES] + [(heartbeat, p) for p in ("INSERT", "UPDATE") if heartbeat]
    cur.execute(
        "SELECT t, p FROM unnest(%s::text[], %s::text[]) AS w(t, p) "
        "WHERE to_regclass(format('%%I.%%I', current_schema(), t)) IS NOT NULL "
        "AND NOT has_table_privilege(%s, to_regclass(format('%%I.%%I', current_schema(), t)), p)",
        ([t for t, _ in wanted], [p for _, p in wanted], role),
    )
    denied = cur.fetchall()
    unreadable = [t for t, p in denied if p == "SELECT"]
    if unreadable:
        problems.append(f"cannot read {', '.join(unreadable)}")
        fixes.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    unwritable = [p for t, p in denied if t == heartbeat and p != "SELECT"]
    if unwritable:
        problems.append(f"no {'/'.join(unwritable)} on {heartbeat} (its heartbeat.action.query fails)")
        fixes.append(f"GRANT SELECT, INSERT, UPDATE ON {heartbeat} TO {role}")
    if problems:
        return Check("FAIL", item, "; ".join(problems), "; ".join(fixes))
    writes = f", INSERT/UPDATE on {heartbeat}" if heartbeat else ""
    return Check("PASS", item, f"LOGIN REPLICATION, CONNECT, SELECT on the 7 tables{writes}")


def doctor(config: Config, stdout: TextIO = sys.stdout, as_json: bool = False) -> int:
    """Print the checks (a table, or with ``as_json`` a list of ``{name, status, detail, fix}``)."""
    conn = connection.connect(config.pg, "doctor")
    try:
        with transaction(conn) as cur:
            checks = run_checks(cur, config)
    finally:
        connection.close_quietly(conn)
    failed = sum(c.status == "FAIL" for c in checks)
    if as_json:
        doc = [{"name": c.item, "status": c.status, "detail": c.detail, "fix": c.fix} for c in checks]
        json.dump(doc, stdout, ensure_ascii=False)
        print(file=stdout)
        return 1 if failed else 0
    print(f"Debezium readiness of {config.pg.describe()}", file=stdout)
    for check in checks:
        line = f"{check.status:<5} {check.item:<34} {check.detail}"
        print(line + (f"\n      fix: {check.fix}" if check.fix and check.status != "PASS" else ""), file=stdout)
    warned = sum(c.status == "WARN" for c in checks)
    print(f"{len(checks)} checks: {len(checks) - failed - warned} pass, {warned} warn, {failed} fail", file=stdout)
    return 1 if failed else 0
