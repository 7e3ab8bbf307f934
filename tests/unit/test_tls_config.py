"""PG_SSL* and PG_PASSWORD_FILE: parsed once into PgSettings, passed to libpq, bad input named (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.config import load_config
from daemon.errors import ConfigError, DatabaseRejected, DatabaseUnavailable
from daemon.pg import connection


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    return info.value.problems


def test_tls_defaults_to_libpq_prefer_and_passes_only_what_is_set(monkeypatch, tmp_path: Path) -> None:
    config = load_config(dotenv=None)
    assert config.pg.sslmode == "prefer"
    assert connection.tls_options(config.pg) == {"sslmode": "prefer"}
    ca, cert, key = (tmp_path / name for name in ("ca.crt", "client.crt", "client.key"))
    for path in (ca, cert, key):
        path.write_text("pem")
    key.chmod(0o600)
    env = {"PG_SSLMODE": "verify-full", "PG_SSLROOTCERT": str(ca), "PG_SSLCERT": str(cert), "PG_SSLKEY": str(key)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert connection.tls_options(load_config(dotenv=None).pg) == {
        "sslmode": "verify-full",
        "sslrootcert": str(ca),
        "sslcert": str(cert),
        "sslkey": str(key),
    }
    monkeypatch.setenv("PG_SSLROOTCERT", "system")  # libpq >= 16: the OS trust store
    assert connection.tls_options(load_config(dotenv=None).pg)["sslrootcert"] == "system"
    monkeypatch.setenv("PG_SSLMODE", "require")  # libpq refuses any mode weaker than verify-full with it
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert list(info.value.problems) == ["PG_SSLMODE"] and "verify-full" in info.value.problems["PG_SSLMODE"]


def test_unknown_mode_and_missing_files_are_named(monkeypatch, tmp_path: Path) -> None:
    found = problems(
        monkeypatch,
        PG_SSLMODE="strict",
        PG_SSLROOTCERT=str(tmp_path / "no-ca.crt"),
        PG_SSLCERT=str(tmp_path),
        PG_SSLKEY=str(tmp_path / "no.key"),
    )
    assert set(found) == {"PG_SSLMODE", "PG_SSLROOTCERT", "PG_SSLCERT", "PG_SSLKEY"}
    assert "verify-full" in found["PG_SSLMODE"] and "'strict'" in found["PG_SSLMODE"]
    assert "No such file" in found["PG_SSLROOTCERT"] and "no-ca.crt" in found["PG_SSLROOTCERT"]
    assert "not a directory" in found["PG_SSLCERT"]


def test_a_key_readable_by_others_is_refused_before_libpq_refuses_it(monkeypatch, tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("pem")
    key.chmod(0o644)
    found = problems(monkeypatch, PG_SSLKEY=str(key))
    assert "0600" in found["PG_SSLKEY"] and "0644" in found["PG_SSLKEY"]
    key.chmod(0o600)
    assert load_config(dotenv=None).pg.sslkey == key


@pytest.mark.parametrize(
    ("content", "password"),
    [
        (b"s3cret-from-file\n", "s3cret-from-file"),
        (b"s3cret-from-file", "s3cret-from-file"),
        (b"s3cret-from-file\r\n", "s3cret-from-file"),
        (b"two-newlines\n\n", "two-newlines\n"),  # exactly one is stripped
        (b" spaced\tpw \n", " spaced\tpw "),
        (b"carriage\rinside\n", "carriage\rinside"),
    ],
)
def test_password_file_strips_exactly_one_newline(monkeypatch, tmp_path: Path, content: bytes, password: str) -> None:
    path = tmp_path / "pw"
    path.write_bytes(content)
    monkeypatch.setenv("PG_PASSWORD_FILE", str(path))
    config = load_config(dotenv=None)
    assert config.pg.password == password
    assert password not in repr(config)
    assert connection.maskable(config.pg) == password  # the log mask covers it (len >= MIN_MASKED_PASSWORD)


def test_password_file_with_password_or_unreadable_is_a_config_error(monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("file-secret-42\n")
    found = problems(monkeypatch, PG_PASSWORD_FILE=str(path), PG_PASSWORD="env-secret-42")
    assert list(found) == ["PG_PASSWORD_FILE"] and "PG_PASSWORD" in found["PG_PASSWORD_FILE"]
    monkeypatch.setenv("PG_PASSWORD", "")  # empty counts as unset (compose files often say PG_PASSWORD=)
    assert load_config(dotenv=None).pg.password == "file-secret-42"
    (tmp_path / "empty").write_text("\n")
    found = problems(monkeypatch, PG_PASSWORD_FILE=str(tmp_path / "empty"))
    assert "empty" in found["PG_PASSWORD_FILE"]
    found = problems(monkeypatch, PG_PASSWORD_FILE=str(tmp_path / "missing"))
    assert "missing" in found["PG_PASSWORD_FILE"] and "No such file" in found["PG_PASSWORD_FILE"]
    (tmp_path / "binary").write_bytes(b"\xff\xfe-not-text")
    found = problems(monkeypatch, PG_PASSWORD_FILE=str(tmp_path / "binary"))
    assert "UTF-8" in found["PG_PASSWORD_FILE"]
    assert all("secret" not in message for message in found.values())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 files (test_tls.py drops that capability)")
def test_unreadable_password_file(monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("file-secret-42\n")
    path.chmod(0)
    found = problems(monkeypatch, PG_PASSWORD_FILE=str(path))
    assert "Permission denied" in found["PG_PASSWORD_FILE"]


@pytest.mark.parametrize(
    "message",
    [
        'connection to server at "127.0.0.1", port 5432 failed: SSL error: certificate verify failed',
        'connection to server at "127.0.0.1", port 5432 failed: server certificate for "localhost" does not '
        'match host name "127.0.0.1"',
        "server does not support SSL, but SSL was required",
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry for host "127.0.0.1", '
        'user "postgres", database "postgres", no encryption',
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  connection requires a valid client certificate',
        'could not load private key file "/k": unsupported',
        'connection to server at "127.0.0.1", port 5432 failed: SSL error: tlsv1 alert unknown ca',
    ],
)
def test_tls_failures_are_refusals_not_retried(message: str) -> None:
    pg = load_config(dotenv=None).pg
    assert isinstance(connection.classify(psycopg_error(message), pg), DatabaseRejected)


@pytest.mark.parametrize(
    "message",
    [
        'connection to server at "127.0.0.1", port 5432 failed: Connection refused',
        "SSL SYSCALL error: EOF detected",
        "SSL connection has been closed unexpectedly",
        'connection to server at "127.0.0.1", port 5432 failed: SSL error: unexpected eof while reading',
    ],
)
def test_a_broken_link_is_still_retried(message: str) -> None:
    pg = load_config(dotenv=None).pg
    assert isinstance(connection.classify(psycopg_error(message), pg), DatabaseUnavailable)


def psycopg_error(message: str):
    import psycopg2

    return psycopg2.OperationalError(message)
