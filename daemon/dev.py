"""`python -m daemon dev`: the newcomer's path — a local PostgreSQL when none is configured.

If PG_HOST is set (environment or .env) the daemon simply runs against it. Otherwise a cluster
with logical WAL is created in ``.localdb/`` of the checkout (kept between runs, ignored by git) -
or, when installed (``pip install .``, ``hospital-sim dev``), in the per-user data directory
``$XDG_DATA_HOME/hospital-sim/localdb`` (default ``~/.local/share/...``) - started on a free
loopback port, and the daemon runs against it. LOCALDB_DIR picks another place.

The server belongs to the command that started it: the daemon runs as a child process (SIGINT and
SIGTERM are forwarded to it) and, when it exits, the server is stopped again (its data stays for
the next run); the exit code is the child's. A server that was already running (a crashed run,
``pg_ctl`` by hand) is used and left alone; a second long-running command (``run``, ``stream``)
on a server another live ``dev`` command owns is refused instead of colliding with it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from dotenv import dotenv_values

from daemon import catalogue
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
    """LOCALDB_DIR, else ``.localdb/`` of the checkout (installed: the user data dir), else a fallback.

    The fallback (the server user cannot enter the preferred place) is per place, never shared:
    the temporary directory's name carries a hash of the preferred path.
    """
    if os.environ.get("LOCALDB_DIR"):
        return Path(os.environ["LOCALDB_DIR"]).resolve()
    if CHECKOUT is not None:
        preferred = CHECKOUT / ".localdb"
    else:
        preferred = user_data_dir() / "localdb"
        preferred.parent.mkdir(mode=0o755, parents=True, exist_ok=True)  # the server user's check needs it
    if accessible_by_server_user(preferred):
        return preferred
    return fallback_root(preferred)


def fallback_root(preferred: Path) -> Path:
    """Under a 0700 root-owned directory (a checkout, root's home) the server user cannot reach
    ``preferred``: a temporary directory of this user and this place."""
    digest = hashlib.sha256(str(preferred.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"hospital-sim-localdb-{os.getuid()}-{digest}"


def configured() -> bool:
    return bool(os.environ.get("PG_HOST") or dotenv_values(".env").get("PG_HOST"))


OWNER_FILE = "owner.pid"  # in the cluster root: the pid of the `dev` command that started the server
LONG_RUNNING = ("run", "stream")


def main(stop_only: bool = False, command: list[str] | None = None, program: str = "hospital-sim") -> int:
    """Ensure the local cluster (unless PG_HOST is configured), run ``python -m daemon COMMAND`` as a
    child, then stop the server if this command started it. Returns the child's exit code."""
    command = command or ["run"]
    # Durable like a real server: an acknowledged commit survives a crash, so the ledger stays true.
    cluster = LocalCluster(cluster_root(), durable=True)
    if stop_only:
        try:
            cluster.stop()
        except LocalPgError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        (cluster.root / OWNER_FILE).unlink(missing_ok=True)
        print(f"local PostgreSQL in {cluster.root} stopped")
        return 0
    if configured():
        return run_child(reexec_argv(command))
    owned = False
    try:
        if cluster.root.exists() and cluster.is_running():
            owner = _live_owner(cluster.root)
            if owner is not None and command[0] in LONG_RUNNING:
                print(
                    f"error: the local PostgreSQL in {cluster.root} belongs to another `dev` command (pid {owner}), "
                    "which stops it when it ends: stop that one first, or set LOCALDB_DIR for a second server",
                    file=sys.stderr,
                )
                return 1
            cluster.ensure_started()  # reads its port
            whose = (
                f"`dev` command pid {owner}" if owner else "another command or a crashed run (`make db-stop` stops it)"
            )
            print(
                f"local PostgreSQL in {cluster.root} was already running, started by {whose}: "
                "using it and leaving it running",
                file=sys.stderr,
                flush=True,
            )
        else:
            cluster.ensure_started()
            owned = True
            (cluster.root / OWNER_FILE).write_text(str(os.getpid()))
    except LocalPgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ.update(cluster.env())
    print(_banner(cluster, program, owned, command), file=sys.stderr, flush=True)
    try:
        return run_child(reexec_argv(command))
    finally:
        if owned:
            _stop_owned(cluster)


def _stop_owned(cluster: LocalCluster) -> None:
    try:
        cluster.stop()
    except LocalPgError as exc:
        print(f"error: could not stop the local PostgreSQL: {exc}", file=sys.stderr)
        return
    (cluster.root / OWNER_FILE).unlink(missing_ok=True)
    print(f"local PostgreSQL in {cluster.root} stopped (data kept for the next run)", file=sys.stderr, flush=True)


def _live_owner(root: Path) -> int | None:
    """The pid of the live `dev` command that started the server in ``root``, if any."""
    try:
        pid = int((root / OWNER_FILE).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() else None


def run_child(argv: list[str]) -> int:
    """Run ``argv`` to its end, forwarding SIGINT/SIGTERM; its exit code (128+N when killed by N).

    The child gets its own process group, which becomes the terminal's foreground group when we
    hold it (as a shell does): Ctrl-C reaches the daemon once (twice would be its "second signal",
    an immediate exit) and `reset` can still ask its question. A signal sent to us is passed on.
    """
    tty = _foreground_tty()
    child = subprocess.Popen(
        argv, process_group=0, preexec_fn=(lambda: _hand_terminal(tty, os.getpgrp())) if tty is not None else None
    )
    if tty is not None:
        _hand_terminal(tty, child.pid)  # both sides, as shells do: whichever runs first wins the race

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if tty is not None:
            _hand_terminal(tty, os.getpgrp())
    return 128 - code if code < 0 else code


def _foreground_tty() -> int | None:
    """stdin's terminal when our process group is its foreground group, else None."""
    try:
        fd = sys.stdin.fileno()
        return fd if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp() else None
    except (OSError, ValueError, AttributeError):
        return None


def _hand_terminal(fd: int, pgid: int) -> None:
    """Make ``pgid`` the terminal's foreground process group (SIGTTOU ignored meanwhile)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgid)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, previous)


def reexec_argv(command: list[str]) -> list[str]:
    """``python -P -m daemon COMMAND`` with this interpreter (an installed venv's, or the checkout's).

    -P: the current directory is not put on sys.path, so a ``daemon/`` folder there cannot shadow
    this package; a checkout is found through PYTHONPATH instead (runnable from any directory).
    """
    if CHECKOUT is not None:
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(CHECKOUT) + (os.pathsep + path if path else "")
    return [sys.executable, "-P", "-m", "daemon", *command]


def _banner(cluster: LocalCluster, program: str, owned: bool = True, command: list[str] | None = None) -> str:
    stop = "make db-stop   (python -m daemon dev --stop)" if CHECKOUT else f"{program} dev --stop"
    lines = [
        f"local PostgreSQL (wal_level=logical) running from {cluster.root}",
        f"  PG_HOST=127.0.0.1 PG_PORT={cluster.port} PG_USER=postgres PG_DATABASE=postgres (no password)",
        "  Debezium: connector.class=io.debezium.connector.postgresql.PostgresConnector "
        f"database.hostname=127.0.0.1 database.port={cluster.port} database.user=postgres "
        "database.dbname=postgres plugin.name=pgoutput topic.prefix=hospital",
    ]
    if (command or ["run"])[0] in LONG_RUNNING:
        lines += [
            f"  metrics: {_metrics_url()}   row counts: " + ("make counts" if CHECKOUT else f"{program} dev counts"),
        ]
    lines.append(
        f"  the server stops when this command ends (its data stays for the next run); left by a crash: {stop}"
        if owned
        else f"  this command leaves the server running; stop it with: {stop}"
    )
    return "\n".join(lines)


def _metrics_url() -> str:
    """Where /metrics will listen (HTTP_HOST/HTTP_PORT from the environment or .env)."""
    dotenv = dotenv_values(".env")
    host = os.environ.get("HTTP_HOST") or dotenv.get("HTTP_HOST") or catalogue.default("HTTP_HOST")
    port = os.environ.get("HTTP_PORT") or dotenv.get("HTTP_PORT") or catalogue.default("HTTP_PORT")
    if str(port) == "0":
        return "off (HTTP_PORT=0)"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}/metrics"
