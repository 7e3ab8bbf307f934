"""CDC objects at bootstrap, the doctor, and hostile identifiers."""

from __future__ import annotations

import io

from daemon.cdc import doctor
from daemon.pg.tables import TABLES
from tests.support.db import query


def test_publication_identity_and_heartbeat(make_config, db, bootstrap):
    config = make_config(
        CDC_PUBLICATION="hospital_pub", CDC_REPLICA_IDENTITY="full", CDC_HEARTBEAT_TABLE="debezium_heartbeat"
    )
    bootstrap(config)
    bootstrap(config)  # idempotent
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname='hospital_pub'")}
    assert published == set(TABLES)
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
    assert "FAIL  replica identity exames" in text and "REPLICA IDENTITY DEFAULT" in text
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
