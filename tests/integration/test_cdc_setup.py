"""CDC objects at bootstrap, the doctor, and hostile identifiers."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator

import pytest

from daemon.cdc import doctor
from daemon.pg import connection
from daemon.pg.tables import TABLES
from tests.support.db import query


def test_publication_identity_and_heartbeat(make_config, db, bootstrap):
    config = make_config(
        CDC_PUBLICATION="hospital_pub", CDC_REPLICA_IDENTITY="full", CDC_HEARTBEAT_TABLE="debezium_heartbeat"
    )
    bootstrap(config)
    bootstrap(config)  # idempotent
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname='hospital_pub'")}
    assert published == {*TABLES, "debezium_heartbeat"}  # Debezium sees the heartbeats: the slot can advance
    identities = {r[0] for r in query(db, "SELECT relreplident FROM pg_class WHERE relname = ANY(%s)", (list(TABLES),))}
    assert identities == {"f"}
    assert query(db, "SELECT id FROM debezium_heartbeat") == [(1,)]


def test_publication_missing_tables_are_added(make_config, db, bootstrap):
    bootstrap(make_config())
    with db.cursor() as cur:
        cur.execute("CREATE PUBLICATION partial FOR TABLE pacientes")
    bootstrap(make_config(CDC_PUBLICATION="partial"))
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname='partial'")}
    assert published == set(TABLES)


def test_heartbeat_table_is_added_to_an_existing_publication(make_config, db, bootstrap):
    bootstrap(make_config(CDC_PUBLICATION="hospital_pub"))
    config = make_config(CDC_PUBLICATION="hospital_pub", CDC_HEARTBEAT_TABLE="debezium_heartbeat")
    bootstrap(config)
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname='hospital_pub'")}
    assert published == {*TABLES, "debezium_heartbeat"}
    assert [c for c in doctor_checks(config) if c.item == "heartbeat in publication"][0].status == "PASS"


def doctor_checks(config) -> list[doctor.Check]:
    conn = connection.connect(config.pg)
    try:
        with connection.transaction(conn) as cur:
            return doctor.run_checks(cur, config)
    finally:
        conn.close()


@pytest.fixture
def connector_role(db, database) -> Iterator[str]:
    """A LOGIN REPLICATION role that may read the 7 tables (roles are cluster-wide: unique, dropped after)."""
    role = f"dbz_{database}"
    with db.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" WITH LOGIN REPLICATION')
    try:
        yield role
    finally:
        with db.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{role}"')
            cur.execute(f'DROP ROLE "{role}"')


def test_doctor_checks_the_heartbeat_setup(make_config, db, bootstrap, connector_role):
    config = make_config(
        CDC_PUBLICATION="hospital_pub", CDC_HEARTBEAT_TABLE="debezium_heartbeat", CDC_CONNECTOR_ROLE=connector_role
    )
    bootstrap(config)
    with db.cursor() as cur:
        cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{connector_role}"')
    statuses = {c.item: (c.status, c.detail, c.fix) for c in doctor_checks(config)}
    assert statuses["heartbeat table"][0] == "PASS"
    assert statuses["heartbeat in publication"][0] == "PASS"
    status, detail, fix = statuses[f"connector role {connector_role}"]
    assert status == "FAIL" and "INSERT/UPDATE on debezium_heartbeat" in detail
    assert f"GRANT SELECT, INSERT, UPDATE ON debezium_heartbeat TO {connector_role}" in fix

    with db.cursor() as cur:
        cur.execute(f'GRANT INSERT, UPDATE ON debezium_heartbeat TO "{connector_role}"')
        cur.execute("ALTER PUBLICATION hospital_pub DROP TABLE debezium_heartbeat")
    statuses = {c.item: (c.status, c.detail, c.fix) for c in doctor_checks(config)}
    assert statuses[f"connector role {connector_role}"][0] == "PASS"
    status, detail, fix = statuses["heartbeat in publication"]
    assert status == "FAIL" and "not in hospital_pub" in detail
    assert "ALTER PUBLICATION hospital_pub ADD TABLE debezium_heartbeat" in fix

    out = io.StringIO()
    assert doctor.doctor(config, out) == 1
    assert "FAIL  heartbeat in publication" in out.getvalue()
    bootstrap(config)  # the fix it names
    assert doctor.doctor(config, io.StringIO()) == 0


def test_doctor_heartbeat_table_missing_or_unset(make_config, db, bootstrap):
    config = make_config(CDC_PUBLICATION="hospital_pub")
    bootstrap(config)
    unset = {c.item: (c.status, c.fix) for c in doctor_checks(config)}
    assert unset["heartbeat table"][0] == "WARN" and "CDC_HEARTBEAT_TABLE" in unset["heartbeat table"][1]
    assert unset["connector role debezium"][0] in {"WARN", "PASS"}  # WARN: no such role in the test cluster
    missing = make_config(CDC_PUBLICATION="hospital_pub", CDC_HEARTBEAT_TABLE="debezium_heartbeat")
    statuses = {c.item: (c.status, c.fix) for c in doctor_checks(missing)}
    assert statuses["heartbeat table"] == ("FAIL", "run `python -m daemon init`")


def test_hostile_identifiers_cannot_inject(make_config, db, bootstrap):
    hostile = 'x"; DROP TABLE pacientes; --'
    bootstrap(make_config(CDC_PUBLICATION=hostile, CDC_HEARTBEAT_TABLE=hostile))
    assert query(db, "SELECT pubname FROM pg_publication") == [(hostile,)]
    assert query(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'pacientes'")[0][0] == 1
    assert query(db, "SELECT count(*) FROM pg_tables WHERE tablename = %s", (hostile,))[0][0] == 1


def test_doctor_passes_on_a_ready_database(make_config, bootstrap):
    config = make_config(CDC_PUBLICATION="hospital_pub", CDC_REPLICA_IDENTITY="full")
    bootstrap(config)
    out = io.StringIO()
    assert doctor.doctor(config, out) == 0
    text = out.getvalue()
    assert "FAIL" not in text.split("checks:")[0]
    assert "PASS  wal_level" in text and "PASS  publication" in text


def test_doctor_fails_and_says_how_to_fix(make_config, db, bootstrap):
    bootstrap(make_config())  # no publication, default identity
    config = make_config(CDC_PUBLICATION="hospital_pub", CDC_REPLICA_IDENTITY="full")
    with db.cursor() as cur:
        cur.execute("ALTER TABLE exames REPLICA IDENTITY NOTHING")
    out = io.StringIO()
    assert doctor.doctor(config, out) == 1
    text = out.getvalue()
    assert "FAIL  publication" in text and "hospital_pub does not exist" in text
    assert "FAIL  replica identity" in text and "nothing: exames" in text and "REPLICA IDENTITY DEFAULT" in text
    assert "fix: run `python -m daemon init`" in text


def test_doctor_lists_slots_with_lag(make_config, db, bootstrap):
    config = make_config()
    bootstrap(config)
    with db.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot('doctor_slot', 'pgoutput')")
    try:
        out = io.StringIO()
        doctor.doctor(config, out)
        assert "slot doctor_slot" in out.getvalue() and "inactive" in out.getvalue()
    finally:
        with db.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot('doctor_slot')")


@pytest.fixture
def debezium_like(db, database) -> Iterator[str]:
    """A role granted what sql/roles.sql grants its debezium role (roles are cluster-wide: unique names)."""
    role = f"dbzl_{database}"
    with db.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" WITH LOGIN REPLICATION NOSUPERUSER')
        cur.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        cur.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        cur.execute(f'GRANT SELECT, INSERT, UPDATE ON debezium_heartbeat TO "{role}"')
    try:
        yield role
    finally:
        with db.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{role}"')
            cur.execute(f'DROP ROLE "{role}"')


def role_check(config, role: str) -> dict:
    out = io.StringIO()
    code = doctor.doctor(
        dataclasses.replace(config, cdc=dataclasses.replace(config.cdc, connector_role=role)), out, True
    )
    checks = json.loads(out.getvalue())
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks)
    return {"code": code, **[c for c in checks if c["name"] == f"connector role {role}"][0]}


@pytest.fixture
def ready_config(make_config, bootstrap):
    config = make_config(
        CDC_PUBLICATION="hospital_pub", CDC_REPLICA_IDENTITY="full", CDC_HEARTBEAT_TABLE="debezium_heartbeat"
    )
    bootstrap(config)
    return config


def test_doctor_role_like_roles_sql_debezium_passes(ready_config, debezium_like):
    check = role_check(ready_config, debezium_like)
    assert check["status"] == "PASS" and "CONNECT" in check["detail"] and check["code"] == 0


def test_doctor_role_without_replication_fails_with_the_fix(ready_config, db, debezium_like):
    with db.cursor() as cur:
        cur.execute(f'ALTER ROLE "{debezium_like}" NOREPLICATION')
    check = role_check(ready_config, debezium_like)
    assert check["status"] == "FAIL" and "no REPLICATION" in check["detail"] and check["code"] == 1
    assert f"ALTER ROLE {debezium_like} WITH LOGIN REPLICATION" in check["fix"]


def test_doctor_role_without_select_fails_with_the_fix(ready_config, db, debezium_like):
    with db.cursor() as cur:
        cur.execute(f'REVOKE SELECT ON exames FROM "{debezium_like}"')
    check = role_check(ready_config, debezium_like)
    assert check["status"] == "FAIL" and "cannot read exames" in check["detail"] and check["code"] == 1
    assert f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {debezium_like}" in check["fix"]


def test_doctor_role_without_connect_fails_with_the_fix(ready_config, db, database, debezium_like):
    with db.cursor() as cur:
        cur.execute(f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC, "{debezium_like}"')
    check = role_check(ready_config, debezium_like)
    assert check["status"] == "FAIL" and f"no CONNECT on database {database}" in check["detail"]
    assert f"GRANT CONNECT ON DATABASE {database} TO {debezium_like}" in check["fix"]


def test_doctor_groups_identical_identity_findings(make_config, bootstrap):
    config = make_config(CDC_PUBLICATION="hospital_pub")  # default identity: the same warning for all 7 tables
    bootstrap(config)
    identity = [c for c in doctor_checks(config) if c.item == "replica identity"]
    assert len(identity) == 1 and identity[0].status == "WARN"
    assert all(table in identity[0].detail for table in TABLES)
