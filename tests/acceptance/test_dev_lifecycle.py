"""Acceptance: `python -m daemon dev run` owns the local PostgreSQL it starts.

The server lives as long as the command: SIGINT reaches the daemon (a child process), the daemon
stops gracefully, then the server is stopped (its data kept: the next run does not seed again).
A server already running is used and left alone; a second long-running command on a server
another live `dev` command owns is refused. LOCALDB_DIR puts the cluster in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon import dev
from daemon.pg.cluster import LocalCluster
from tests.support import REPO
from tests.support.db import wait_until
from tests.support.env import clean
from tests.support.proc import DaemonProcess, run

# A fast stream whose normal summary cadence (1000 ticks) is far away: "Stream ciclo 5:" is the early one.
FAST = {
    "STREAM_INTERVAL_SECONDS": "0.05",
    "MAX_JITTER_MS": "0",
    "SUMMARY_EVERY_TICKS": "1000",
    "SEED_SCALE": "0.05",
    "RANDOM_SEED": "7",
}
START_SECONDS = 180  # initdb + start + seed on a loaded 2-core machine


@pytest.fixture
def localdb() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hsim-dev-"))
    root.chmod(0o755)  # the unprivileged server user must traverse it
    try:
        yield root / "localdb"
    finally:
        cluster = LocalCluster(root / "localdb")
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def postmaster_pid(localdb: Path) -> int:
    return int((localdb / "data" / "postmaster.pid").read_text().splitlines()[0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_run_stops_the_server_it_started_and_the_next_run_reuses_the_data(localdb: Path) -> None:
    env = {**FAST, "LOCALDB_DIR": str(localdb)}
    cwd = localdb.parent  # no .env there
    first = DaemonProcess(env, "dev", "run", cwd=cwd)
    try:
        first.wait_for("seed committed", timeout=START_SECONDS)
        first.wait_for("Iniciando stream", timeout=60)
        first.wait_for("Stream ciclo 5:", timeout=30)  # the early first summary
        assert "the server stops when this command ends" in first.output
        pid = postmaster_pid(localdb)
        assert alive(pid)
        # While it runs: a short command shares the server; a second `run` is refused.
        code, out = run({"LOCALDB_DIR": str(localdb)}, "dev", "counts", cwd=cwd, timeout=120)
        assert code == 0 and "already running" in out and "pacientes" in out, out
        code, out = run(env, "dev", "run", cwd=cwd, timeout=120)
        assert code == 1 and "belongs to another `dev` command" in out, out
        assert alive(pid) and first.proc.poll() is None
        code, _ = first.terminate(signal.SIGINT)
    finally:
        first.kill()
    assert code == 0, first.output
    assert "shutdown complete" in first.output and "Traceback" not in first.output
    assert "stopped (data kept for the next run)" in first.output
    # pg_ctl stop -w returns once postmaster.pid is gone, a moment before the process exits.
    wait_until(lambda: not alive(pid), 15, "the postmaster started by `dev run` exits with it")
    assert not (localdb / "data" / "postmaster.pid").exists()

    second = DaemonProcess(env, "dev", "run", cwd=cwd)
    try:
        second.wait_for("Iniciando stream", timeout=START_SECONDS)
        pid = postmaster_pid(localdb)
        code, _ = second.terminate(signal.SIGINT)
    finally:
        second.kill()
    assert code == 0, second.output
    assert "seed skipped: tables already hold data" in second.output
    assert "seeding empty database" not in second.output
    wait_until(lambda: not alive(pid), 15, "the second run's postmaster exits with it")


def test_dev_leaves_a_server_it_did_not_start_running(localdb: Path) -> None:
    cluster = LocalCluster(localdb, durable=True).ensure_started()  # a crashed run's leftover, say
    pid = postmaster_pid(localdb)
    code, out = run({"LOCALDB_DIR": str(localdb)}, "dev", "check", cwd=localdb.parent, timeout=120)
    assert code == 0, out
    assert "was already running" in out and "leaving it running" in out
    assert alive(pid) and cluster.is_running()


@pytest.mark.skipif(os.geteuid() != 0, reason="the fallback is for a root-owned 0700 checkout")
def test_a_checkout_the_server_user_cannot_enter_gets_its_own_fallback() -> None:
    """A clone under `mktemp -d` (0700, root's): the cluster goes to a temporary directory of that
    checkout's own, not one shared by every checkout, and is stopped when the command ends."""
    clone = Path(tempfile.mkdtemp(prefix="hsim-clone-")) / "repo"  # mkdtemp: 0700, like `mktemp -d`
    shutil.copytree(REPO / "daemon", clone / "daemon", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sql", clone / "sql")
    shutil.copy(REPO / "pyproject.toml", clone / "pyproject.toml")
    expected = dev.fallback_root(clone / ".localdb")
    assert expected != dev.fallback_root(REPO / ".localdb")
    env = {**clean(os.environ), "PYTHONPATH": str(clone)}
    env.pop("LOCALDB_DIR", None)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "daemon", "dev", "check"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert f"running from {expected}" in output, output
        assert f"local PostgreSQL in {expected} stopped" in output, output
        assert not (expected / "data" / "postmaster.pid").exists()
    finally:
        cluster = LocalCluster(expected)
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop(mode="immediate")
        shutil.rmtree(expected, ignore_errors=True)
        shutil.rmtree(clone.parent, ignore_errors=True)


def test_fallback_location_is_per_checkout() -> None:
    a, b = dev.fallback_root(Path("/root/one/.localdb")), dev.fallback_root(Path("/root/two/.localdb"))
    assert a != b and a.parent == b.parent == Path(tempfile.gettempdir())
    assert a == dev.fallback_root(Path("/root/one/.localdb"))  # stable: the next run finds its data
