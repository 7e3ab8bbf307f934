"""PostgreSQL access: connections with timeouts and a name, transactions, error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg2
import psycopg2.extensions
import psycopg2.extras

from daemon.config import PgSettings
from daemon.errors import DatabaseError, DatabaseRejected, DatabaseUnavailable, first_line
from daemon.pg import sqlfiles

Connection = psycopg2.extensions.connection
Cursor = psycopg2.extensions.cursor
Row = tuple[Any, ...]

# Connection failures that retrying will not cure (messages from libpq / the server).
_FATAL_CONNECT_MARKERS = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "does not exist",  # role or database
    "permission denied",
    "no pg_hba.conf entry",
    "is not permitted to log in",
    # TLS: an unknown CA, a host-name mismatch, no TLS where it is required, a client certificate
    # missing or refused, an unusable key.
    "certificate",
    "does not match host name",
    "does not support SSL",
    "SSL error: ",
    "private key",
    "sslmode value",
    "may not be used with sslrootcert",
)
# TLS words that mean a broken link (the server went away mid-handshake), not a refusal: retried.
_BROKEN_LINK_MARKERS = ("SSL SYSCALL error", "unexpected eof")
# SQLSTATE classes: 28 invalid authorization, 42 syntax/access rule (e.g. insufficient_privilege), 3D invalid catalog.
FATAL_SQLSTATE_CLASSES = ("28", "3D", "42")
# The server ended the session: admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now.
_SESSION_ENDED = ("57P01", "57P02", "57P03")
# A dead peer is noticed within ~25 s (the kernel's TCP keepalives), on every connection.
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
# Shorter masks would garble ordinary words; a password equal to the user or database name is
# already visible in every "user@host/db" line.
MIN_MASKED_PASSWORD = 4


def application_name(pg: PgSettings, purpose: str) -> str:
    """The application_name of our connection for ``purpose`` (as the server shows it: 63 bytes at most)."""
    return f"{pg.application_name}:{purpose}"[:63]


def libpq_params(pg: PgSettings, purpose: str) -> dict[str, Any]:
    """libpq's connection parameters for every connection of ours (either driver): target,
    timeouts, an application_name saying what the connection is for, keepalives, TLS."""
    return {
        "host": pg.host,
        "port": pg.port,
        "user": pg.user,
        "password": pg.password or None,
        "dbname": pg.database,
        "connect_timeout": pg.connect_timeout,
        "application_name": application_name(pg, purpose),
        "options": f"-c statement_timeout={pg.statement_timeout_ms}",
        **KEEPALIVES,
        **tls_options(pg),
    }


def connect(pg: PgSettings, purpose: str = "main") -> Connection:
    """Open a connection with connect/statement timeouts and an application_name.

    Raises DatabaseUnavailable for transient failures, DatabaseRejected for permanent ones.
    """
    try:
        conn: Connection = psycopg2.connect(**libpq_params(pg, purpose))
    except psycopg2.OperationalError as exc:
        raise classify(exc, pg) from None
    conn.set_session(autocommit=False)
    return conn


def tls_options(pg: PgSettings) -> dict[str, Any]:
    """libpq's TLS parameters: sslmode always (libpq's PGSSLMODE never applies), the files when set."""
    files = {"sslrootcert": pg.sslrootcert, "sslcert": pg.sslcert, "sslkey": pg.sslkey}
    return {"sslmode": pg.sslmode, **{key: str(path) for key, path in files.items() if path is not None}}


@dataclass(frozen=True)
class SessionTls:
    """What the server says about this session's encryption (``pg_stat_ssl``)."""

    encrypted: bool
    protocol: str | None = None
    cipher: str | None = None
    bits: int | None = None

    def describe(self) -> str:
        if not self.encrypted:
            return "not encrypted"
        return f"{self.protocol}, {self.cipher} ({self.bits} bits)"

    def as_json(self) -> dict[str, object]:
        return {"encrypted": self.encrypted, "protocol": self.protocol, "cipher": self.cipher, "bits": self.bits}


def session_tls(cur: Cursor) -> SessionTls:
    cur.execute(sqlfiles.load("session_tls"))
    row = cur.fetchone()
    if row is None or not row[0]:
        return SessionTls(False)
    return SessionTls(True, row[1], row[2], row[3])


# The driver errors that mean the link failed (psycopg2's, and psycopg 3's for the stream's events).
_LINK_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def sqlstate(exc: BaseException) -> str | None:
    """The error's SQLSTATE, from either driver (None: the server sent none)."""
    return getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)


def classify(exc: psycopg2.Error | psycopg.Error, pg: PgSettings) -> DatabaseError:
    """Translate a driver error into our hierarchy, with a message that never holds the password."""
    text = scrub(first_line(exc), pg)
    code = sqlstate(exc) or ""
    if code[:2] in FATAL_SQLSTATE_CLASSES or _refuses(text):
        return DatabaseRejected(f"{pg.describe()}: {text}")
    if not code and isinstance(exc, (psycopg2.OperationalError, psycopg.OperationalError)):
        # libpq tries every address of the host: "localhost" may fail on ::1 (refused), then on
        # 127.0.0.1 for good (a certificate). The refusal decides, and its line is the message.
        lines = (scrub(line.strip(), pg) for line in str(exc).splitlines())
        refusal = next((line for line in lines if _refuses(line)), None)
        if refusal:
            return DatabaseRejected(f"{pg.describe()}: {refusal}")
    if isinstance(exc, _LINK_ERRORS):
        return DatabaseUnavailable(f"{pg.describe()}: {text}")
    return DatabaseError(f"{pg.describe()}: {text}")


def _refuses(line: str) -> bool:
    """Whether libpq's or the server's line says retrying will not help."""
    if any(marker in line for marker in _BROKEN_LINK_MARKERS):
        return False
    return any(marker in line for marker in _FATAL_CONNECT_MARKERS)


def maskable(pg: PgSettings) -> str:
    """The password as it should be masked in output ('' when masking it would garble messages)."""
    password = pg.password
    if len(password) < MIN_MASKED_PASSWORD or password in (pg.user, pg.database, pg.host):
        return ""
    return password


def scrub(text: str, pg: PgSettings) -> str:
    """Remove the password from a message, should a driver ever echo it."""
    secret = maskable(pg)
    return text.replace(secret, "***") if secret else text


def is_connection_lost(exc: BaseException) -> bool:
    """True when the error means the session is gone and the connection must be replaced.

    psycopg2 also raises OperationalError for errors of a healthy session (lock timeout,
    deadlock, disk full...); those carry a SQLSTATE outside the connection classes and are
    rolled back on the same connection.
    """
    if isinstance(exc, (psycopg2.InterfaceError, psycopg.InterfaceError)):
        return True
    if not isinstance(exc, (psycopg2.Error, psycopg.Error)):
        return False
    code = sqlstate(exc)
    if code is None:
        return isinstance(exc, _LINK_ERRORS)  # no SQLSTATE: the link itself failed
    return code.startswith("08") or code in _SESSION_ENDED


@contextmanager
def transaction(conn: Connection) -> Iterator[Cursor]:
    """Run the block in one transaction: commit on success, roll back on any exception."""
    cur = conn.cursor()
    try:
        yield cur
        conn.commit()
    except BaseException:
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg2.Error:
                pass  # connection already broken; the caller replaces it
        raise
    finally:
        if not cur.closed and not conn.closed:
            cur.close()


@contextmanager
def borrowed_transaction(conn: Connection) -> Iterator[Cursor]:
    """:func:`transaction` on a connection that otherwise runs in autocommit (a stream writer's,
    lent for maintenance that holds a transaction-level lock): autocommit off for the block, back
    on after it, unless the connection is gone."""
    conn.autocommit = False
    try:
        with transaction(conn) as cur:
            yield cur
    finally:
        if not conn.closed:
            conn.autocommit = True


def fetch_one(cur: Cursor) -> Row:
    """The row the statement just run always returns (an aggregate, ``RETURNING`` of a certain row...)."""
    row = cur.fetchone()
    if row is None:
        raise DatabaseError("the statement returned no row")
    return row


def close_quietly(conn: Connection | None) -> None:
    if conn is not None and not conn.closed:
        try:
            conn.close()
        except psycopg2.Error:
            pass


def server_version(conn: Connection) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT version()")
        version = str(fetch_one(cur)[0])
    conn.rollback()
    return version
