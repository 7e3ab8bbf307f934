"""`python -m daemon dev`: the newcomer's path — a local PostgreSQL when none is configured.

If PG_HOST is set (environment or .env) the daemon simply runs against it. Otherwise a cluster
with logical WAL is created in ``.localdb/`` of the checkout (kept between runs, ignored by git),
started on a free loopback port, and the daemon runs against it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from dotenv import dotenv_values

from daemon.pg.cluster import LocalCluster, LocalPgError, accessible_by_server_user

CHECKOUT = Path(__file__).resolve().parent.parent


def cluster_root() -> Path:
    preferred = CHECKOUT / ".localdb"
    if accessible_by_server_user(preferred):
        return preferred
    # A checkout under a 0700 root-owned directory: the server user cannot reach it.
    return Path(tempfile.gettempdir()) / f"hospital-sim-localdb-{os.getuid()}"


def configured() -> bool:
    return bool(os.environ.get("PG_HOST") or dotenv_values(".env").get("PG_HOST"))


def main(stop_only: bool = False, command: list[str] | None = None) -> int:
    """Ensure the local cluster (unless PG_HOST is configured), then exec ``python -m daemon COMMAND``."""
    # Durable like a real server: an acknowledged commit survives a crash, so the ledger stays true.
    cluster = LocalCluster(cluster_root(), durable=True)
    if stop_only:
        try:
            cluster.stop()
        except LocalPgError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"local PostgreSQL in {cluster.root} stopped")
        return 0
    if not configured():
        try:
            cluster.ensure_started()
        except LocalPgError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        os.environ.update(cluster.env())
        print(_banner(cluster), file=sys.stderr, flush=True)
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(CHECKOUT) + (os.pathsep + path if path else "")  # runnable from any directory
    os.execv(sys.executable, [sys.executable, "-m", "daemon", *(command or ["run"])])
    return 0  # not reached


def _banner(cluster: LocalCluster) -> str:
    return "\n".join(
        (
            f"local PostgreSQL (wal_level=logical) running from {cluster.root}",
            f"  PG_HOST=127.0.0.1 PG_PORT={cluster.port} PG_USER=postgres PG_DATABASE=postgres (no password)",
            "  Debezium: connector.class=io.debezium.connector.postgresql.PostgresConnector "
            f"database.hostname=127.0.0.1 database.port={cluster.port} database.user=postgres "
            "database.dbname=postgres plugin.name=pgoutput topic.prefix=hospital",
            "  stop it later with: make db-stop   (python -m daemon dev --stop)",
        )
    )
