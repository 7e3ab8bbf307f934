"""`python -m daemon dev`: the newcomer's path — a local PostgreSQL when none is configured.

If PG_HOST is set (environment or .env) the daemon simply runs against it. Otherwise a cluster
with logical WAL is created in ``.localdb/`` of the checkout (kept between runs, ignored by git) -
or, when installed (``pip install .``, ``hospital-sim dev``), in the per-user data directory
``$XDG_DATA_HOME/hospital-sim/localdb`` (default ``~/.local/share/...``) - started on a free
loopback port, and the daemon runs against it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from dotenv import dotenv_values

from daemon.pg.cluster import LocalCluster, LocalPgError, accessible_by_server_user


def source_checkout(package_dir: Path | None = None) -> Path | None:
    """The repository holding the ``daemon`` package when run from a checkout, None when installed."""
    root = (package_dir or Path(__file__).resolve().parent).parent
    return root if (root / "pyproject.toml").is_file() and (root / "sql").is_dir() else None


CHECKOUT = source_checkout()


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/hospital-sim`` (when absolute, as the XDG spec says), else ``~/.local/share/hospital-sim``."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "hospital-sim"


def cluster_root() -> Path:
    if CHECKOUT is not None:
        preferred = CHECKOUT / ".localdb"
    else:
        preferred = user_data_dir() / "localdb"
        preferred.parent.mkdir(mode=0o755, parents=True, exist_ok=True)  # the server user's check needs it
    if accessible_by_server_user(preferred):
        return preferred
    # Under a 0700 root-owned directory (a checkout, root's home): the server user cannot reach it.
    return Path(tempfile.gettempdir()) / f"hospital-sim-localdb-{os.getuid()}"


def configured() -> bool:
    return bool(os.environ.get("PG_HOST") or dotenv_values(".env").get("PG_HOST"))


def main(stop_only: bool = False, command: list[str] | None = None, program: str = "hospital-sim") -> int:
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
        print(_banner(cluster, program), file=sys.stderr, flush=True)
    os.execv(sys.executable, reexec_argv(command or ["run"]))
    return 0  # not reached


def reexec_argv(command: list[str]) -> list[str]:
    """``python -P -m daemon COMMAND`` with this interpreter (an installed venv's, or the checkout's).

    -P: the current directory is not put on sys.path, so a ``daemon/`` folder there cannot shadow
    this package; a checkout is found through PYTHONPATH instead (runnable from any directory).
    """
    if CHECKOUT is not None:
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(CHECKOUT) + (os.pathsep + path if path else "")
    return [sys.executable, "-P", "-m", "daemon", *command]


def _banner(cluster: LocalCluster, program: str) -> str:
    return "\n".join(
        (
            f"local PostgreSQL (wal_level=logical) running from {cluster.root}",
            f"  PG_HOST=127.0.0.1 PG_PORT={cluster.port} PG_USER=postgres PG_DATABASE=postgres (no password)",
            "  Debezium: connector.class=io.debezium.connector.postgresql.PostgresConnector "
            f"database.hostname=127.0.0.1 database.port={cluster.port} database.user=postgres "
            "database.dbname=postgres plugin.name=pgoutput topic.prefix=hospital",
            "  stop it later with: "
            + ("make db-stop   (python -m daemon dev --stop)" if CHECKOUT else f"{program} dev --stop"),
        )
    )
