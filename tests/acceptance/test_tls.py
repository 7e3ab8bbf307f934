"""TLS to PostgreSQL and the password from a file, against a real TLS-only server (tests/support/tls.py).

The daemon runs as a process: verified TLS end to end (pg_stat_ssl shows every session of it
encrypted), a client certificate, and the refusals - an unknown CA, a host-name mismatch, no TLS
under ``disable`` or from the server - exit 1 at once with libpq's or the server's words.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.db import query, wait_until
from tests.support.env import clean
from tests.support.proc import daemon_process, run
from tests.support.tls import CERT_ROLE, PASSWORD_ROLE, TlsServer, tls_server

PASSWORD = "Pw-From-File-7q2x"  # the role's password: must appear in no output
FAST = {
    "STREAM_INTERVAL_SECONDS": "0.05",
    "MAX_JITTER_MS": "0",
    "SUMMARY_EVERY_TICKS": "10",
    "SEED_SCALE": "0.02",
    "RANDOM_SEED": "7",
}
DAEMON_SESSIONS = (
    "SELECT a.application_name, s.ssl, s.version, a.usename FROM pg_stat_activity a "
    "JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'tls-run:%%'"
)
REFUSAL_SECONDS = 15  # a refusal is not retried: the process ends at once, far inside this


@pytest.fixture(scope="module")
def tls() -> Iterator[TlsServer]:
    with tls_server() as server:
        admin = server.admin()
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD %s", (PASSWORD,))
            cur.execute(f"CREATE ROLE {CERT_ROLE} LOGIN")
            cur.execute(f"CREATE DATABASE hospital OWNER {PASSWORD_ROLE}")
        admin.close()
        yield server


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "pg-password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o400)
    return path


def at_least(n: int, rows: list[tuple]) -> list[tuple] | None:
    return rows if len(rows) >= n else None


def refused(env: dict[str, str], *args: str) -> tuple[str, float]:
    """Run the command; it must exit 1 without a traceback, quickly. Its output and duration."""
    started = time.monotonic()
    code, output = run(env, *args, timeout=60)
    elapsed = time.monotonic() - started
    assert code == 1, output
    assert "Traceback" not in output, output
    assert elapsed < REFUSAL_SECONDS, f"{elapsed:.1f}s: retried? {output}"
    return output, elapsed


def test_verified_tls_and_password_file_seed_stream_and_stop(tls: TlsServer, password_file: Path) -> None:
    env = tls.env(
        "hospital",
        PG_USER=PASSWORD_ROLE,
        PG_PASSWORD_FILE=str(password_file),
        PG_APPLICATION_NAME="tls-run",
        STREAM_WRITERS="2",  # a writer's own connection (stream-1) is verified too
        EVENTS_PER_TICK="4",
        LOG_LEVEL="TRACE",
        **FAST,
    )
    admin = tls.admin("hospital")
    try:
        with daemon_process(env, ready="seed committed", timeout=90) as daemon:
            daemon.wait_for("Stream ciclo 10:", timeout=60)
            sessions = wait_until(
                lambda: at_least(2, query(admin, DAEMON_SESSIONS)),
                what="the daemon's main and writer sessions",
            )
            code, _ = daemon.terminate()
        rows = query(admin, "SELECT count(*) FROM consultas")[0][0]
    finally:
        admin.close()
    assert code == 0, daemon.output[-3000:]
    assert rows > 0
    assert all(ssl and version.startswith("TLSv1.") for _, ssl, version, _ in sessions), sessions
    assert {user for *_, user in sessions} == {PASSWORD_ROLE}
    assert any(name.startswith("tls-run:stream") for name, *_ in sessions), sessions
    assert "DEBUG" in daemon.output  # TRACE, the most verbose level, lets every DEBUG line through
    assert PASSWORD not in daemon.output
    assert "Traceback" not in daemon.output


def test_check_and_doctor_report_the_encryption(tls: TlsServer) -> None:
    env = tls.env()
    code, output = run(env, "check")
    assert code == 0, output
    tls_line = next(line for line in output.splitlines() if line.startswith("tls: "))
    assert "TLSv1.3" in tls_line and "PG_SSLMODE=verify-full" in tls_line, tls_line
    code, output = run(env, "check", "--json")
    doc = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    assert doc["ok"] is True and doc["tls"]["encrypted"] is True, doc
    assert doc["tls"]["protocol"] == "TLSv1.3" and doc["tls"]["cipher"] and doc["tls"]["bits"] >= 128, doc
    code, output = run(env, "doctor", "--json")
    checks = json.loads(next(line for line in output.splitlines() if line.startswith("[")))
    encryption = next(c for c in checks if c["name"] == "encryption")
    assert encryption["status"] == "PASS" and "TLSv1.3" in encryption["detail"], encryption
    code, output = run(env, "doctor")
    assert any(line.startswith("PASS  encryption") and "TLSv1.3" in line for line in output.splitlines()), output


def test_unencrypted_session_is_reported(pg_env: dict[str, str]) -> None:
    """The suite's ordinary server has no TLS: prefer falls back, and check/doctor say so."""
    code, output = run(pg_env, "check", "--json")
    doc = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    assert code == 0 and doc["tls"] == {
        "encrypted": False,
        "protocol": None,
        "cipher": None,
        "bits": None,
        "sslmode": "prefer",
    }
    code, output = run(pg_env, "doctor")
    assert "WARN  encryption" in output and "not encrypted (PG_SSLMODE=prefer)" in output, output


def test_client_certificate(tls: TlsServer) -> None:
    env = tls.env(PG_USER=CERT_ROLE, PG_SSLCERT=str(tls.client_cert), PG_SSLKEY=str(tls.client_key))
    code, output = run(env, "check")
    assert code == 0, output
    without = tls.env(PG_USER=CERT_ROLE)
    output, _ = refused(without, "check")
    assert "certificate" in output, output


def test_unknown_ca_is_refused_at_once(tls: TlsServer) -> None:
    env = tls.env(PG_SSLROOTCERT=str(tls.other_ca.cert), **FAST)
    output, _ = refused(env)  # the daemon itself: not a retry loop
    assert "certificate verify failed" in output, output
    assert "not retrying" in output


def test_host_name_mismatch_is_refused(tls: TlsServer) -> None:
    output, _ = refused(tls.env(PG_HOST="localhost", **FAST))  # the certificate names 127.0.0.1 only
    assert 'does not match host name "localhost"' in output, output


def test_disable_against_hostssl_only_is_refused_with_the_servers_words(tls: TlsServer) -> None:
    output, _ = refused(tls.env(PG_SSLMODE="disable", **FAST))
    assert "no pg_hba.conf entry" in output and "no encryption" in output, output


def test_require_against_a_server_without_tls_is_refused(pg_env: dict[str, str]) -> None:
    output, _ = refused({**pg_env, "PG_SSLMODE": "require", **FAST})
    assert "server does not support SSL" in output, output


def test_os_trust_store_with_system(tls: TlsServer) -> None:
    """PG_SSLROOTCERT=system: libpq uses OpenSSL's default store, which SSL_CERT_FILE points at here."""
    code, output = run({**tls.env(PG_SSLROOTCERT="system"), "SSL_CERT_FILE": str(tls.ca.cert)}, "check")
    assert code == 0, output
    assert "TLSv1.3" in output


def test_password_file_misuse_is_a_configuration_error(tls: TlsServer, password_file: Path, tmp_path: Path) -> None:
    base = tls.env("hospital", PG_USER=PASSWORD_ROLE)
    both = {**base, "PG_PASSWORD_FILE": str(password_file), "PG_PASSWORD": "Other-Secret-55"}
    for env in (both, {**base, "PG_PASSWORD_FILE": str(tmp_path / "absent")}, {**base, "PG_PASSWORD_FILE": "/"}):
        code, output = run(env, "check")
        assert code == 2, output
        assert "PG_PASSWORD_FILE" in output and "Traceback" not in output, output
        assert PASSWORD not in output and "Other-Secret-55" not in output, output
    bad_tls = {**base, "PG_SSLMODE": "verify", "PG_SSLROOTCERT": str(tmp_path / "absent.crt")}
    code, output = run(bad_tls, "check")
    assert code == 2 and "PG_SSLMODE" in output and "PG_SSLROOTCERT" in output, output


def test_unreadable_files_are_configuration_errors(tls: TlsServer, tmp_path: Path) -> None:
    """Mode 000: a process without CAP_DAC_OVERRIDE cannot read them (as root, setpriv drops it)."""
    secret, ca = tmp_path / "pg-password", tmp_path / "ca.crt"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    shutil.copy(tls.ca.cert, ca)
    for path in (secret, ca):
        path.chmod(0)
    env = {**clean(os.environ), "PYTHONPATH": str(REPO), **tls.env("hospital", PG_USER=PASSWORD_ROLE)}
    env.update(PG_PASSWORD_FILE=str(secret), PG_SSLROOTCERT=str(ca))
    command = [sys.executable, "-m", "daemon", "check"]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    for name in ("PG_PASSWORD_FILE", "PG_SSLROOTCERT"):
        line = next(line for line in done.stderr.splitlines() if name in line)
        assert "Permission denied" in line, done.stderr
    assert PASSWORD not in done.stdout + done.stderr and "Traceback" not in done.stderr
