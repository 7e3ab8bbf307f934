"""Shared helpers for the benchmarks: a throwaway cluster, the daemon as a process, machine facts."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from daemon.pg.cluster import LocalCluster, find_bindir, temporary_cluster  # noqa: E402

# PostgreSQL's default of 128MB is sized for the smallest machines; the scale-100 database is
# ~300MB. A server holding its working set in shared_buffers is what "cost flat as tables grow"
# is about (not the page cache): 1GB, well under the 25 % of RAM PostgreSQL's guide suggests.
SHARED_BUFFERS = "1GB"


def cluster(durable: bool = True, settings: dict[str, str] | None = None):
    """A fresh PostgreSQL (logical WAL) in a temp dir; durable by default, like a real server;
    ``settings``: server settings of the run's own (``--set name=value``)."""
    return temporary_cluster(
        "hsim-bench-", durable=durable, settings={"shared_buffers": SHARED_BUFFERS, **(settings or {})}
    )


def server_settings(pairs: list[str]) -> dict[str, str]:
    """``--set name=value`` options as server settings."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--set takes name=value, got {pair!r}")
        settings[name] = value
    return settings


def daemon_env(c: LocalCluster, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "SEED_", "STREAM_", "LOG_", "CDC_"))}
    env.update(c.env())
    env.update({"PYTHONPATH": str(REPO), "HTTP_PORT": "0", **extra})
    return env


def start_daemon(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "daemon", *args],
        env=env,
        cwd=REPO,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ledger(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def row_delta(entries: list[dict]) -> Counter:
    """Rows each table should have gained: inserts minus deletes."""
    delta: Counter = Counter()
    for e in entries:
        delta[e["table"]] += {"insert": 1, "delete": -1}.get(e["op"], 0)
    return delta


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine() -> str:
    cpu = cpu_model()
    version = subprocess.run([str(find_bindir() / "postgres"), "--version"], capture_output=True, text=True).stdout
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.python_implementation()} {platform.python_version()}, "
        f"{version.strip()}, shared_buffers {SHARED_BUFFERS}"
    )


def pg_tool(name: str, c: LocalCluster) -> list[str]:
    """A PostgreSQL client program (psql, pgbench) pointed at the benchmark cluster."""
    return [str(find_bindir() / name), "-h", "127.0.0.1", "-p", str(c.port), "-U", "postgres"]


def psql(c: LocalCluster, sql: str, database: str = "postgres") -> str:
    """Run ``sql`` with psql; the unaligned, tuples-only output."""
    command = [*pg_tool("psql", c), "-d", database, "-XAtqc", sql]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def seed(c: LocalCluster, database: str = "postgres", **env: str) -> float:
    """``python -m daemon seed`` into ``database`` (created if missing); returns the seconds it took."""
    if database != "postgres" and not psql(c, f"SELECT 1 FROM pg_database WHERE datname = '{database}'"):
        psql(c, f'CREATE DATABASE "{database}"')
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "daemon", "seed"],
        env=daemon_env(c, RANDOM_SEED="1", **{**c.env(database), **env}),
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    return time.perf_counter() - started


def load_config_for(c: LocalCluster, database: str = "postgres", **env: str):
    """The daemon's Config for this cluster plus ``env`` (read from os.environ, like the daemon)."""
    from daemon.config import load_config

    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith(("PG_", "SEED_", "STREAM_", "LOG_", "CDC_"))]:
            del os.environ[key]
        os.environ.update({**c.env(database), "HTTP_PORT": "0", "RANDOM_SEED": "1", **env})
        return load_config(dotenv=None)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def table_changes(c: LocalCluster, database: str = "postgres") -> int:
    """Rows inserted + updated + deleted so far in the simulator's tables (not its bookkeeping)."""
    time.sleep(1.2)  # PostgreSQL 15 flushes table statistics at most once a second
    return int(
        psql(
            c,
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
            "WHERE relname NOT LIKE 'hospital_sim%' AND relname NOT LIKE 'bench%'",
            database,
        )
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
