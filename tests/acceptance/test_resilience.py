"""Faults: PostgreSQL restarts, killed backends, refused logins, missing privileges, replicas, logs.

Every change the daemon reports (ledger) must be in the database exactly once, and nothing it
reports as failed may be there: insert-only streams make that exact (rows = seed + ledger).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from daemon.pg.cluster import find_bindir, free_port, temporary_cluster
from tests.support import REPO
from tests.support.db import admin_connect, line_count, query, wait_until
from tests.support.proc import DaemonProcess, daemon_process, run

SEEDED = {"pacientes": 2000, "consultas": 4000, "exames": 3500, "internacoes": 1200}
INSERT_ONLY_FAST = {
    "STREAM_OP_WEIGHTS": "insert=1",
    "STREAM_INTERVAL_SECONDS": "0.02",
    "MAX_JITTER_MS": "0",
    "RETRY_MAX_SECONDS": "0.5",
    "PG_CONNECT_TIMEOUT": "2",
    "SUMMARY_EVERY_TICKS": "100",
}


@pytest.fixture
def own_cluster():
    """A cluster this test may restart without disturbing the others; durable, like a real server."""
    with temporary_cluster("hsim-restart-", durable=True) as cluster:
        yield cluster


class Poller(threading.Thread):
    """Records the status codes of /healthz and /readyz every 50 ms."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.seen: dict[str, list[int]] = {"/healthz": [], "/readyz": []}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.05):
            for path, codes in self.seen.items():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                        codes.append(r.status)
                except urllib.error.HTTPError as exc:
                    codes.append(exc.code)
                except OSError:
                    codes.append(0)


def ledger_counts(path: Path) -> Counter:
    return Counter(json.loads(line)["table"] for line in path.read_text().splitlines() if line)


def test_survives_postgres_restarts_without_losing_or_inventing_changes(own_cluster, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    http = free_port()
    env = {
        **own_cluster.env(),
        **INSERT_ONLY_FAST,
        "EVENTS_PER_TICK": "10",  # several events in flight when the server goes: settled by the writer rows
        "LEDGER_FILE": str(ledger),
        "HTTP_PORT": str(http),
        "HTTP_HOST": "127.0.0.1",
    }
    poller = Poller(http)
    try:
        with daemon_process(env, ready="Iniciando stream") as daemon:
            poller.start()
            wait_until(lambda: 200 in poller.seen["/readyz"] and line_count(ledger) >= 20, 30, "ready and committing")
            for n, mode in enumerate(("fast", "immediate", "immediate"), 1):
                own_cluster.stop(mode=mode)
                daemon.wait_for_count("unreachable (attempt 1,", n, timeout=30)  # the daemon saw it go down
                own_cluster.ensure_started()
                daemon.wait_for_count("writer 0 reconnected to", n, timeout=30)  # event db.reconnected
                committed = line_count(ledger)
                wait_until(lambda: line_count(ledger) >= committed + 15, 30, "commits after the reconnection")  # noqa: B023
            poller.halt.set()
            poller.join(timeout=5)
            code, _ = daemon.terminate()
    finally:
        poller.halt.set()
    assert code == 0, daemon.output[-3000:]
    assert "Traceback" not in daemon.output
    assert f"127.0.0.1:{own_cluster.port}" in daemon.wait_for("unreachable")
    conn = admin_connect(own_cluster)
    reported = ledger_counts(ledger)
    for table, seeded in SEEDED.items():
        assert query(conn, f"SELECT count(*) FROM {table}")[0][0] - seeded == reported[table], table
    assert sum(reported.values()) > 50
    conn.close()
    assert 503 in poller.seen["/readyz"] and poller.seen["/readyz"][-1] == 200
    assert set(poller.seen["/healthz"]) == {200}  # liveness never reported a stall


def test_killed_backend_rolls_back_and_the_stream_goes_on(pg_env, db, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    env = {**pg_env, **INSERT_ONLY_FAST, "LEDGER_FILE": str(ledger), "PG_APPLICATION_NAME": "victim"}
    victims = "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'victim:%%' AND pid <> ALL(%s)"
    with daemon_process(env, ready="Iniciando stream") as daemon:
        killed: list[int] = []
        for _ in range(3):  # each time a backend the daemon opened since the last kill
            pids = wait_until(lambda: [p for (p,) in query(db, victims, (killed,))], 30, "a new backend")  # noqa: B023
            query(db, "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
            killed += pids
        daemon.wait_for("reconnected", timeout=30)
        committed = line_count(ledger)
        wait_until(lambda: line_count(ledger) > committed, 30, "commits after the reconnection")
        code, _ = daemon.terminate()
    assert code == 0
    reported = ledger_counts(ledger)
    for table, seeded in SEEDED.items():
        assert query(db, f"SELECT count(*) FROM {table}")[0][0] - seeded == reported[table], table


@pytest.fixture
def password_role(cluster, db, database):
    """A role that must authenticate with a password (scram), and one lacking privileges."""
    hba = cluster.data / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("host all pwuser 127.0.0.1/32 scram-sha-256\n" + original)
    with db.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS pwuser")
        cur.execute("CREATE ROLE pwuser LOGIN PASSWORD 'right-password'")
        cur.execute("DROP ROLE IF EXISTS weakuser")
        cur.execute("CREATE ROLE weakuser LOGIN")
        cur.execute("SELECT pg_reload_conf()")
    yield
    hba.write_text(original)
    conn = admin_connect(cluster)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_reload_conf()")
        cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cur.execute("DROP ROLE IF EXISTS pwuser")
        cur.execute("DROP ROLE IF EXISTS weakuser")
    conn.close()


def test_wrong_password_is_fatal_and_never_echoed(pg_env, password_role):
    started = time.monotonic()
    code, output = run({**pg_env, "PG_USER": "pwuser", "PG_PASSWORD": "wrong-Secret-123"}, timeout=30)
    assert code == 1
    assert time.monotonic() - started < 15  # not retried forever
    assert "password authentication failed" in output and "not retrying" in output
    assert "wrong-Secret-123" not in output and "Traceback" not in output


def test_missing_privilege_is_named(pg_env, password_role):
    code, output = run({**pg_env, "PG_USER": "weakuser"}, timeout=30)
    assert code == 1
    assert "permission denied for schema public" in output
    assert "Traceback" not in output


def test_three_daemons_on_an_empty_database(pg_env, db, tmp_path):
    ledgers = [tmp_path / f"ledger{i}.jsonl" for i in range(3)]
    daemons = [
        DaemonProcess({**pg_env, **INSERT_ONLY_FAST, "STREAM_INTERVAL_SECONDS": "0.05", "LEDGER_FILE": str(ledgers[i])})
        for i in range(3)
    ]
    try:
        for d in daemons:
            d.wait_for("Iniciando stream", timeout=90)
        wait_until(lambda: all(line_count(path) > 0 for path in ledgers), 30, "every replica committed")
        codes = [d.terminate()[0] for d in daemons]
    finally:
        for d in daemons:
            d.kill()
    assert codes == [0, 0, 0]
    assert sum("seed committed" in d.output for d in daemons) == 1
    assert sum("seed skipped" in d.output for d in daemons) == 2
    assert sum("schema created" in d.output for d in daemons) == 1
    assert query(db, "SELECT count(*) FROM convenios")[0][0] == 12
    total = Counter()
    for path in ledgers:
        per = ledger_counts(path)
        assert sum(per.values()) > 0  # every replica streamed
        total += per
    for table, seeded in SEEDED.items():
        assert query(db, f"SELECT count(*) FROM {table}")[0][0] - seeded == total[table], table


def test_unusable_log_dir_falls_back_to_stdout(pg_env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {**pg_env, "LOG_DIR": str(blocker / "logs"), "STREAM_INTERVAL_SECONDS": "0.05", "SUMMARY_EVERY_TICKS": "5"}
    with daemon_process(env) as daemon:
        line = daemon.wait_for("is not usable", timeout=30)
        assert "WARNING" in line and "logging to stdout only" in line
        daemon.wait_for("Stream ciclo 5:", timeout=60)
        code, _ = daemon.terminate()
    assert code == 0


def test_no_password_in_operator_output(pg_env):
    secret = {"PG_PASSWORD": "Top-Secret-Pw-987"}
    run({**pg_env, **secret}, "init")
    for args in (("counts",), ("check",), ("doctor",)):
        code, output = run({**pg_env, **secret}, *args)
        assert code in (0, 1) and "Top-Secret-Pw-987" not in output, args


def test_least_privilege_roles_from_sql_roles(cluster, pg_env, db, database, tmp_path):
    """sql/roles.sql as shipped: the simulator runs as hospital_sim; debezium may only read and replicate."""
    psql = shutil.which("psql") or str(find_bindir() / "psql")
    roles = REPO / "sql" / "roles.sql"
    command = [
        psql,
        "-h",
        "127.0.0.1",
        "-p",
        str(cluster.port),
        "-U",
        "postgres",
        "-d",
        database,
        "-v",
        "ON_ERROR_STOP=1",
        "-v",
        "sim_password='sim-pw'",
        "-v",
        "dbz_password='dbz-pw'",
        "-v",
        f"dbname={database}",
        "-f",
        str(roles),
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
        env = {
            **pg_env,
            "PG_USER": "hospital_sim",
            "PG_PASSWORD": "sim-pw",
            "CDC_PUBLICATION": "hospital_pub",
            "CDC_REPLICA_IDENTITY": "full",
            "STREAM_INTERVAL_SECONDS": "0.05",
            "SUMMARY_EVERY_TICKS": "10",
        }
        with daemon_process(env, ready="Stream ciclo 10:") as daemon:
            code, _ = daemon.terminate()
        assert code == 0, daemon.output[-2000:]
        assert query(db, "SELECT tableowner FROM pg_tables WHERE tablename = 'consultas'") == [("hospital_sim",)]
        flags = query(db, "SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = 'hospital_sim'")
        assert flags == [(False, False)]
        dbz = query(db, "SELECT rolsuper, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = 'debezium'")
        assert dbz == [(False, True, True)]
        privileges = query(
            db,
            "SELECT DISTINCT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = 'debezium' AND table_name = 'consultas'",
        )
        assert privileges == [("SELECT",)]
    finally:
        for role in ("debezium", "hospital_sim"):
            with db.cursor() as cur:
                cur.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'")
                if cur.fetchone():
                    cur.execute(f"REASSIGN OWNED BY {role} TO postgres")
                    cur.execute(f"DROP OWNED BY {role}")
        conn = admin_connect(cluster)
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cur.execute("DROP ROLE IF EXISTS debezium")
            cur.execute("DROP ROLE IF EXISTS hospital_sim")
        conn.close()


def test_session_errors_keep_the_connection(pg_env, db, tmp_path):
    """A lock timeout is an error of a healthy session: rolled back, no reconnect, still ready."""
    with db.cursor() as cur:
        cur.execute(f"ALTER DATABASE \"{pg_env['PG_DATABASE']}\" SET lock_timeout = '200ms'")
    env = {**pg_env, **INSERT_ONLY_FAST, "STREAM_INSERT_WEIGHTS": "consultas=1"}
    try:
        with daemon_process(env, ready="Iniciando stream") as daemon:
            db.autocommit = False
            with db.cursor() as cur:
                cur.execute("LOCK TABLE consultas IN ACCESS EXCLUSIVE MODE")
            daemon.wait_for_count("lock timeout", 2, timeout=30)  # and again, on the same session
            db.rollback()
            db.autocommit = True
            consultas = query(db, "SELECT count(*) FROM consultas")[0][0]
            wait_until(lambda: query(db, "SELECT count(*) FROM consultas")[0][0] > consultas, 30, "inserts again")
            code, _ = daemon.terminate()
    finally:
        db.rollback()
        db.autocommit = True
    assert code == 0
    assert "rolled back (database): canceling statement due to lock timeout" in daemon.output
    assert "reconnected" not in daemon.output


def test_privileges_lost_while_streaming_stop_the_daemon(pg_env, db):
    with db.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS streamer_role")
        cur.execute("CREATE ROLE streamer_role LOGIN")
        cur.execute("GRANT CREATE, USAGE ON SCHEMA public TO streamer_role")
    env = {**pg_env, **INSERT_ONLY_FAST, "PG_USER": "streamer_role", "STREAM_INSERT_WEIGHTS": "consultas=1"}
    try:
        with daemon_process(env, ready="Iniciando stream") as daemon:
            with db.cursor() as cur:  # the owner is fine; take it away from a reader-only copy of the role
                cur.execute("ALTER TABLE consultas OWNER TO postgres")
                cur.execute("REVOKE ALL ON consultas FROM streamer_role")
            code = daemon.wait(timeout=30)
    finally:
        with db.cursor() as cur:
            cur.execute("REASSIGN OWNED BY streamer_role TO postgres")
            cur.execute("DROP OWNED BY streamer_role")
            cur.execute("DROP ROLE streamer_role")
    assert code == 1
    assert "permission denied for table consultas" in daemon.output and "stopping" in daemon.output
