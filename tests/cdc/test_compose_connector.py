"""The compose stack's Debezium settings with the real connector (no podman needed).

docker/debezium-connector.json and the least-privilege role of docker/sql/10-debezium-role.sh.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
import yaml

from daemon.pg.cluster import LocalPgError, find_bindir
from daemon.pg.tables import TABLES
from tests.support import REPO
from tests.support.db import query
from tests.support.proc import daemon_process

FAST_STREAM = {
    "STREAM_INTERVAL_SECONDS": "0.1",
    "MAX_JITTER_MS": "0",
    "SUMMARY_EVERY_TICKS": "5",
    "SEED_SCALE": "0.05",
}


def test_compose_connector_config_streams_as_the_least_privilege_role(
    pg_env: dict[str, str], db, tmp_path: Path
) -> None:
    """docker/: the role script, the simulator's CDC settings and the connector JSON work together.

    The debezium role cannot create or alter the publication; in publication.autocreate.mode=filtered
    the connector must find the simulator's publication up to date, snapshot, stream, and run its
    heartbeat.action.query with the grants the script gave it.
    """
    from tests.support.debezium_engine import DebeziumCapture, drop_slot, parse

    try:
        bindir = find_bindir()
    except LocalPgError as exc:
        pytest.skip(str(exc))
    if not (bindir / "psql").exists():
        pytest.skip(f"no psql in {bindir}")
    database = pg_env["PG_DATABASE"]
    script_env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
        "PGHOST": pg_env["PG_HOST"],
        "PGPORT": pg_env["PG_PORT"],
        "POSTGRES_USER": pg_env["PG_USER"],
        "POSTGRES_DB": database,
        "DEBEZIUM_PASSWORD": "dbz-test",
    }
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    simulator_cdc = {k: v for k, v in compose["services"]["simulator"]["environment"].items() if k.startswith("CDC_")}
    config = json.loads((REPO / "docker" / "debezium-connector.json").read_text(encoding="utf-8"))["config"]
    slot = f"hospital_slot_{database}"
    engine_managed = {"connector.class", "tasks.max", "key.converter", "value.converter"}
    extra = {k: v for k, v in config.items() if not k.startswith("database.") and k not in engine_managed}
    extra.update({"slot.name": slot, "heartbeat.interval.ms": "300"})
    capture = None
    try:
        script = REPO / "docker" / "sql" / "10-debezium-role.sh"
        subprocess.run(["sh", str(script)], env=script_env, check=True, capture_output=True, timeout=60)
        env = {**pg_env, **FAST_STREAM, **simulator_cdc, "HTTP_PORT": "0", "RANDOM_SEED": "5"}
        with daemon_process(env, ready="Iniciando stream"):
            capture = DebeziumCapture(
                host=pg_env["PG_HOST"],
                port=int(pg_env["PG_PORT"]),
                user=config["database.user"],
                password="dbz-test",
                dbname=database,
                slot_name=slot,
                publication=config["publication.name"],
                offsets_file=tmp_path / "offsets.dat",
                topic_prefix=config["topic.prefix"],
                tables=config["table.include.list"].split(","),
                extra_properties=extra,
            ).start(timeout=90)
            prefix = f"{config['topic.prefix']}.public."

            def changes(records: list) -> list:
                return [parse(r) for r in records if r.destination.startswith(prefix)]

            records = capture.wait_for(
                lambda rs: {c.op for c in changes(rs)} >= {"read", "insert", "update"}, timeout=90
            )
            assert {c.table for c in changes(records)} <= set(TABLES)
            others = {r.destination for r in records if not r.destination.startswith(prefix)}
            assert others <= {f"__debezium-heartbeat.{config['topic.prefix']}"}, others
            heartbeat = compose["services"]["simulator"]["environment"]["CDC_HEARTBEAT_TABLE"]
            with db.cursor() as cur:  # errors must fail the test: the check below depends on this row
                cur.execute(f"UPDATE \"{heartbeat}\" SET ts = '2000-01-01' WHERE id = 1")
                assert cur.rowcount == 1, f"no heartbeat row in {heartbeat}"
            deadline = time.monotonic() + 30
            while query(db, f'SELECT ts FROM "{heartbeat}" WHERE id = 1')[0][0].year == 2000:
                assert time.monotonic() < deadline, "the connector's heartbeat.action.query never ran"
                time.sleep(0.3)
            owner = query(
                db,
                "SELECT pubowner::regrole::text FROM pg_publication WHERE pubname = %s",
                (config["publication.name"],),
            )
            assert owner == [(pg_env["PG_USER"],)], "the simulator, not Debezium, owns the publication"
    finally:
        if capture is not None:
            capture.stop(raise_errors=False)
        drop_slot(db, slot)
        query_free(db, "DROP OWNED BY debezium")
        query_free(db, "DROP ROLE IF EXISTS debezium")


def query_free(conn, sql: str) -> None:
    """Run a statement that returns no rows, ignoring 'role does not exist' during cleanup."""
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
        except psycopg2.Error:  # cleanup must not mask the test's own failure
            pass
