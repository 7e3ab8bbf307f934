"""A certificate authority made with ``openssl`` and a throwaway PostgreSQL that accepts TLS only.

The server: ``ssl=on``, its certificate signed by the test CA (subjectAltName IP:127.0.0.1 only, so
that ``localhost`` is a host-name mismatch), the same CA trusted for client certificates, and a
``pg_hba.conf`` without a single ``host`` line: TCP clients must use TLS (``hostssl``). The
superuser keeps ``local`` (Unix socket) trust for the test's own administration.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from daemon.pg.cluster import LocalCluster, _server_user

PASSWORD_ROLE = "tls_pw_user"  # authenticates with scram-sha-256 over TLS
CERT_ROLE = "tls_cert_user"  # must present a client certificate whose CN is its name


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr}")


@dataclass(frozen=True)
class Authority:
    """A CA (``cert``, ``key``) in ``directory``, signing leaf certificates on request."""

    directory: Path
    name: str

    @property
    def cert(self) -> Path:
        return self.directory / f"{self.name}.crt"

    @property
    def key(self) -> Path:
        return self.directory / f"{self.name}.key"

    @classmethod
    def create(cls, directory: Path, name: str) -> Authority:
        ca = cls(directory, name)
        openssl(
            *("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(ca.key), "-out", str(ca.cert), "-days", "2", "-subj", f"/CN={name}"),
            *("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
            cwd=directory,
        )
        return ca

    def issue(self, name: str, common_name: str, alt_names: str = "") -> tuple[Path, Path]:
        """A leaf certificate and its key (mode 0600): ``name``.crt / ``name``.key."""
        cert, key, csr = (self.directory / f"{name}.{ext}" for ext in ("crt", "key", "csr"))
        openssl(
            *("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(csr), "-subj", f"/CN={common_name}"),
            cwd=self.directory,
        )
        extensions = self.directory / f"{name}.ext"
        extensions.write_text(f"subjectAltName={alt_names}\n" if alt_names else "basicConstraints=CA:FALSE\n")
        openssl(
            *("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key), "-CAcreateserial"),
            *("-out", str(cert), "-days", "2", "-extfile", str(extensions)),
            cwd=self.directory,
        )
        key.chmod(0o600)
        return cert, key


@dataclass
class TlsServer:
    cluster: LocalCluster
    ca: Authority  # signed the server's certificate; trusted for client certificates
    other_ca: Authority  # a stranger: verifying the server with it must fail
    client_cert: Path  # CN = CERT_ROLE, signed by ``ca``
    client_key: Path

    def env(self, database: str = "postgres", **overrides: str) -> dict[str, str]:
        """PG_* for a verified connection as the superuser (trust over hostssl)."""
        return {
            **self.cluster.env(database),
            "PG_SSLMODE": "verify-full",
            "PG_SSLROOTCERT": str(self.ca.cert),
            **overrides,
        }

    def admin(self, database: str = "postgres"):
        """An autocommit superuser connection over the Unix socket (no TLS needed there)."""
        socket = str(self.cluster.socket_dir)
        conn = psycopg2.connect(host=socket, port=self.cluster.port, user="postgres", dbname=database)
        conn.autocommit = True
        return conn


SERVER_TLS = """
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
password_encryption = 'scram-sha-256'
"""
HBA = f"""# TLS only for TCP: no `host` line at all.
local   all all                           trust
hostssl all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256
hostssl all {CERT_ROLE}     127.0.0.1/32 trust clientcert=verify-full
hostssl all all             127.0.0.1/32 trust
"""


@contextmanager
def tls_server() -> Iterator[TlsServer]:
    """Start the TLS-only cluster; stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="hsim-tls-"))
    root.chmod(0o755)  # the unprivileged server user must traverse it
    certs = root / "certs"
    certs.mkdir()
    cluster = LocalCluster(root / "pg")
    try:
        ca = Authority.create(certs, "test-ca")
        other = Authority.create(certs, "other-ca")
        server_cert, server_key = ca.issue("server", "hospital-sim test server", "IP:127.0.0.1")
        client_cert, client_key = ca.issue("client", CERT_ROLE)
        cluster.ensure_started()
        for source, target in ((server_cert, "server.crt"), (server_key, "server.key"), (ca.cert, "root.crt")):
            shutil.copy(source, cluster.data / target)
            _own_by_server(cluster.data / target)
        (cluster.data / "server.key").chmod(0o600)
        with (cluster.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(SERVER_TLS)
        (cluster.data / "pg_hba.conf").write_text(HBA, encoding="utf-8")
        server = TlsServer(cluster, ca, other, client_cert, client_key)
        admin = server.admin()
        try:
            with admin.cursor() as cur:
                cur.execute("SELECT pg_reload_conf()")
        finally:
            admin.close()
        _wait_for_ssl(server)
        yield server
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _own_by_server(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(_server_user())
        os.chown(path, user.pw_uid, user.pw_gid)


def _wait_for_ssl(server: TlsServer) -> None:
    """pg_reload_conf() signals the postmaster; new sessions see ssl=on a moment later."""
    deadline = time.monotonic() + 10
    while True:
        admin = server.admin()
        try:
            with admin.cursor() as cur:
                cur.execute("SHOW ssl")
                if cur.fetchone() == ("on",):
                    return
        finally:
            admin.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"ssl never turned on: {server.cluster.logfile.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
