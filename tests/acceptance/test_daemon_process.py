"""Acceptance: the daemon as a process — seed, stream, SIGTERM, bad input, subcommands."""

from __future__ import annotations

import json
import re
import signal

from daemon.pg.cluster import free_port
from tests.support.db import query, wait_until, waiting_on_lock
from tests.support.proc import GRACEFUL_STOP_SECONDS, DaemonProcess, daemon_process, run

SECRET = "s3cr3t-Passw0rd"
FAST = {"STREAM_INTERVAL_SECONDS": "0.05", "MAX_JITTER_MS": "20", "SUMMARY_EVERY_TICKS": "10", "RANDOM_SEED": "5"}
SEEDED = {"pacientes": 2000, "consultas": 4000, "exames": 3500, "internacoes": 1200}


def test_seeds_streams_and_stops_cleanly_on_sigterm(pg_env, db, tmp_path):
    logdir = tmp_path / "logs"
    # Insert-only (the predecessor's behaviour): row counts then equal what the summary reports.
    env = {**pg_env, **FAST, "PG_PASSWORD": SECRET, "LOG_DIR": str(logdir), "STREAM_OP_WEIGHTS": "insert=1"}
    with daemon_process(env, cwd=tmp_path, ready="seed committed") as daemon:
        daemon.wait_for("Stream ciclo 20:", timeout=60)
        code, seconds = daemon.terminate(signal.SIGTERM)
    assert code == 0, daemon.output
    assert seconds < GRACEFUL_STOP_SECONDS, f"graceful stop took {seconds:.1f}s"
    assert "shutdown complete" in daemon.output
    assert "Traceback" not in daemon.output
    # The last summary (written after the last commit) equals what the database gained.
    final = [line for line in daemon.lines if "Stream ciclo" in line][-1]
    reported = {t: int(n) for t, n in re.findall(r"(\w+): (\d+)", final.split("Stream ciclo", 1)[1])}
    for table, seeded in SEEDED.items():
        assert query(db, f"SELECT count(*) FROM {table}")[0][0] - seeded == reported[table], (table, final)
    assert reported["falhas"] == 0
    # Log files, and no password anywhere.
    files = {p.name: p.read_text(encoding="utf-8") for p in logdir.iterdir()}
    assert {"app.log", "stream.log", "errors.log"} <= set(files)
    assert "Stream ciclo" in files["stream.log"] and "seed committed" not in files["stream.log"]
    assert "seed committed" in files["app.log"]
    assert files["errors.log"] == ""
    assert SECRET not in daemon.output and all(SECRET not in text for text in files.values())


def test_bad_environment_exits_2_naming_every_variable(pg_env, db):
    bad = {"STREAM_INTERVAL_SECONDS": "-2", "SEED_PACIENTES": "lots", "LOG_LEVEL": "VERBOSE", "PG_PORT": "99999"}
    code, output = run({**pg_env, **bad})
    assert code == 2
    for name in bad:
        assert name in output
    assert "Traceback" not in output
    assert query(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0


def test_unreachable_database_is_retried_until_sigterm(pg_env):
    port = free_port()
    env = {**pg_env, "PG_PORT": str(port), "PG_PASSWORD": SECRET, "PG_CONNECT_TIMEOUT": "1", "LOG_LEVEL": "DEBUG"}
    with daemon_process(env) as daemon:
        line = daemon.wait_for("unreachable", timeout=30)
        assert f"127.0.0.1:{port}" in line and "attempt 1" in line and "WARNING" in line
        assert "DEBUG" in daemon.wait_for("attempt 2", timeout=30)  # the outage is logged once
        code, seconds = daemon.terminate(signal.SIGTERM)
    assert code == 0 and seconds < GRACEFUL_STOP_SECONDS
    assert SECRET not in daemon.output


def test_missing_database_is_fatal_not_retried(pg_env):
    code, output = run({**pg_env, "PG_DATABASE": "no_such_db"}, timeout=30)
    assert code == 1
    assert "no_such_db" in output and "does not exist" in output
    assert "Traceback" not in output


def test_json_logs_are_one_object_per_line(pg_env):
    with daemon_process({**pg_env, **FAST, "LOG_FORMAT": "json"}, ready="Stream ciclo 10:") as daemon:
        code, _ = daemon.terminate()
    assert code == 0
    records = [json.loads(line) for line in daemon.lines if line.strip()]
    assert {"time", "level", "event", "message"} <= set(records[0])
    summaries = [r for r in records if r["event"] == "stream.summary"]
    # The first comes early (a sign of life after 5 ticks), then every SUMMARY_EVERY_TICKS.
    assert [r["ticks"] for r in summaries][:2] == [5, 10]
    assert isinstance(summaries[0]["committed"], dict)


def test_operator_subcommands(pg_env, db):
    code, output = run(pg_env, "check")
    assert code == 0 and "OK" in output and "wal_level: logical" in output and "schema: missing" in output
    code, _ = run(pg_env, "init")
    assert code == 0
    assert query(db, "SELECT count(*) FROM convenios")[0][0] == 2
    code, _ = run({**pg_env, "RANDOM_SEED": "1"}, "seed", "--scale", "0.5")
    assert code == 0
    assert query(db, "SELECT count(*) FROM pacientes")[0][0] == 1000
    code, output = run(pg_env, "counts")
    assert code == 0
    assert re.search(r"pacientes\.+\s+1,000", output) and "TOTAL" in output
    code, output = run(pg_env, "reset")  # no terminal, no --yes: refuses
    assert code == 2 and "--yes" in output
    assert query(db, "SELECT count(*) FROM pacientes")[0][0] == 1000
    code, _ = run({**pg_env, "SEED_SCALE": "0.1"}, "reset", "--yes")
    assert code == 0
    assert query(db, "SELECT count(*) FROM pacientes")[0][0] == 200


def test_check_fails_when_unreachable(pg_env):
    code, output = run({**pg_env, "PG_PORT": str(free_port())}, "check")
    assert code == 1 and "FAIL" in output


def test_stream_subcommand_needs_a_schema(pg_env):
    code, output = run(pg_env, "stream", timeout=30)
    assert code == 1 and "schema missing" in output


def _blocked_stream(pg_env, db, **extra: str) -> DaemonProcess:
    """A daemon whose next event waits on a lock held by the test (an event 'in flight')."""
    env = {**pg_env, **FAST, "STREAM_OP_WEIGHTS": "insert=1", "STREAM_INSERT_WEIGHTS": "consultas=1", **extra}
    daemon = DaemonProcess(env)
    try:
        daemon.wait_for("Iniciando stream", timeout=60)
        db.autocommit = False
        with db.cursor() as cur:
            cur.execute("LOCK TABLE consultas IN ACCESS EXCLUSIVE MODE")  # the next INSERT waits on it
        database = pg_env["PG_DATABASE"]
        wait_until(lambda: waiting_on_lock(db, database, "relation"), 30, "the daemon's INSERT waits on the lock")
    except BaseException:
        daemon.kill()
        raise
    return daemon


def test_event_stuck_past_the_shutdown_timeout_is_cancelled(pg_env, db):
    daemon = _blocked_stream(pg_env, db, SHUTDOWN_TIMEOUT_SECONDS="1")
    try:
        code, seconds = daemon.terminate(signal.SIGTERM)
    finally:
        db.rollback()
        db.autocommit = True
        daemon.kill()
    assert code == 0, daemon.output[-2000:]
    assert 1 <= seconds < GRACEFUL_STOP_SECONDS
    assert "cancelling it" in daemon.output and "shutdown complete" in daemon.output


def test_second_signal_exits_at_once(pg_env, db):
    daemon = _blocked_stream(pg_env, db, SHUTDOWN_TIMEOUT_SECONDS="60")
    try:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.wait_for("stopping (SIGTERM)", timeout=10)
        code, seconds = daemon.terminate(signal.SIGTERM)
    finally:
        db.rollback()
        db.autocommit = True
        daemon.kill()
    assert code == 128 + signal.SIGTERM
    assert seconds < GRACEFUL_STOP_SECONDS  # far below the 60 s the event in flight was granted


def test_sigterm_while_waiting_for_another_replicas_bootstrap(pg_env, db):
    from daemon.pg.schema import ADVISORY_LOCK_KEY

    with db.cursor() as cur:  # another replica holds the bootstrap/seed lock (e.g. seeding millions of rows)
        cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        with daemon_process(pg_env, ready="connected to", timeout=30) as daemon:
            database = pg_env["PG_DATABASE"]
            wait_until(lambda: waiting_on_lock(db, database, "advisory"), 30, "the daemon waits on the advisory lock")
            code, seconds = daemon.terminate(signal.SIGTERM)
    finally:
        with db.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock_all()")
    assert code == 0, daemon.output[-2000:]
    assert seconds < GRACEFUL_STOP_SECONDS and "Traceback" not in daemon.output
    assert query(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0
