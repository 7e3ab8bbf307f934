"""Shared helpers for the benchmarks: a throwaway cluster, the daemon as a process, machine facts."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from daemon.pg.cluster import LocalCluster, find_bindir, temporary_cluster  # noqa: E402

if TYPE_CHECKING:
    from daemon.stream.streamer import Streamer

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


# The daemon's own variables: a benchmark's daemon gets only those the benchmark sets, never the shell's.
DAEMON_PREFIXES = ("PG_", "SEED_", "STREAM_", "LOG_", "CDC_")


def daemon_env(c: LocalCluster, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DAEMON_PREFIXES)}
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


def machine(sync_us: float | None = None) -> str:
    """The machine's facts for a result's heading; ``sync_us``: :func:`commit_sync_us` of the run's
    cluster, for the benchmarks whose ratios depend on what a commit costs."""
    cpu = cpu_model()
    version = subprocess.run([str(find_bindir() / "postgres"), "--version"], capture_output=True, text=True).stdout
    sync = "" if sync_us is None else f", commit sync (8 kB write + fdatasync, the cluster's disk) {sync_us:.0f} µs"
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.python_implementation()} {platform.python_version()}, "
        f"{version.strip()}, shared_buffers {SHARED_BUFFERS}{sync}"
    )


WAL_SEGMENT = 16 * 1024 * 1024
WAL_PAGE = 8192


def commit_sync_us(directory: Path, seconds: float = 1.0) -> float:
    """Mean µs of what a one-row commit waits for on ``directory``'s disk: an 8 kB write into a
    preallocated 16 MB file, then ``fdatasync`` (``wal_sync_method``'s default on Linux), as
    ``pg_test_fsync`` times its first fdatasync line. Where it is long, the commit hides the
    statements' CPU in every ratio to pgbench's one-row INSERT; where it is short, it does not
    (bench/README: machines A, B and C)."""
    path = directory / f"hsim-sync-probe-{os.getpid()}"
    page = os.urandom(WAL_PAGE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for offset in range(0, WAL_SEGMENT, WAL_PAGE):  # allocated and synced first, as a WAL segment is
            os.pwrite(fd, page, offset)
        os.fsync(fd)
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            os.pwrite(fd, page, 0)
            os.fdatasync(fd)
            done += 1
        return 1e6 * elapsed / done
    finally:
        os.close(fd)
        path.unlink()


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
        for key in [k for k in os.environ if k.startswith(DAEMON_PREFIXES)]:
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


INSERT_ONE = (
    "CREATE TABLE IF NOT EXISTS bench_one (id BIGSERIAL PRIMARY KEY, v INT, created_at TIMESTAMPTZ DEFAULT now())"
)


def pgbench(c: LocalCluster, args: list[str]) -> float:
    """Run pgbench; its tps (without initial connection time)."""
    run = subprocess.run([*pg_tool("pgbench", c), *args, "postgres"], capture_output=True, text=True)
    if run.returncode != 0 or "tps = " not in run.stdout:
        raise RuntimeError(f"pgbench failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    failed = re.search(r"number of failed transactions: (\d+)", run.stdout)
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench: {failed.group(1)} failed transactions\n{run.stdout}")
    return float(re.search(r"tps = ([\d.]+)", run.stdout).group(1))


def insert_ceiling(c: LocalCluster, seconds: float, work: Path, per_pipeline: int = 0) -> float:
    """pgbench, one connection, a one-row INSERT (BIGSERIAL key, no FK) per transaction, in events/s
    (its script written in ``work``): ``-M simple``, each reply awaited (the issue's ceiling);
    with ``per_pipeline``: ``-M prepared``, that many transactions (BEGIN; INSERT; COMMIT) per
    pipeline, the technique the daemon uses."""
    pipelined = per_pipeline > 0
    script = work / ("insert-pipelined.sql" if pipelined else "insert.sql")
    insert = "\\set v random(1, 1000000)\nINSERT INTO bench_one (v) VALUES (:v);\n"
    if pipelined:
        event = "\\set v random(1, 1000000)\nBEGIN;\nINSERT INTO bench_one (v) VALUES (:v);\nCOMMIT;\n"
        insert = f"\\startpipeline\n{event * per_pipeline}\\endpipeline\n"
    script.write_text(insert)
    psql(c, INSERT_ONE)
    mode = "prepared" if pipelined else "simple"
    tps = pgbench(c, ["-n", "-M", mode, "-c", "1", "-j", "1", "-T", str(round(seconds)), "-f", str(script)])
    return tps * (per_pipeline if pipelined else 1)


TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(c: LocalCluster) -> float:
    """CPU seconds the cluster has used so far: its postmaster and every process it started, running
    or gone (a backend that exited was reaped by the postmaster: its time is in the postmaster's
    children time), the background writers and autovacuum included.

    A backend reaped while ``/proc`` is being read would be in neither the postmaster's children
    time read before it nor the processes read after: the reading is taken again until the
    postmaster's children time is the same before and after the scan."""
    postmaster = int((c.data / "postmaster.pid").read_text().split("\n", 1)[0])
    while True:
        reaped = _stat(postmaster)[13:15]  # cutime, cstime: the children it has reaped
        ticks = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            fields = _stat(int(entry.name))
            if fields and (int(entry.name) == postmaster or int(fields[1]) == postmaster):
                ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        if _stat(postmaster)[13:15] == reaped:
            return ticks / TICKS


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, ...); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def client_cpu() -> float:
    """CPU seconds of this process (the in-process daemon, all its threads) and of its children that
    have exited (pgbench)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Measure:
    """One side of a ratio: its rate in each round, rows changed per event (a sanity check), and
    the CPU its events cost the server and the client."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self.changes: list[float] = []
        self.events = 0
        self.server_seconds = 0.0  # CPU of every PostgreSQL process while it ran
        self.client_seconds = 0.0  # CPU of whatever sent the events (the daemon, or pgbench)

    @property
    def server_us(self) -> float:
        """Server CPU per event, in microseconds."""
        return 1e6 * self.server_seconds / max(self.events, 1)

    @property
    def client_us(self) -> float:
        """Client CPU per event, in microseconds."""
        return 1e6 * self.client_seconds / max(self.events, 1)

    @property
    def rate(self) -> float:
        return sum(self.rates) / len(self.rates)

    def ratio(self, other: Measure) -> float:
        return sum(self.rates) / sum(other.rates)


def timed(
    c: LocalCluster, measure: Measure, seconds: float, run, count: Callable[[LocalCluster], int] = table_changes
) -> None:
    """Run ``run(seconds)`` -> events; record its rate and how much ``count`` (by default the table
    rows changed, from the statistics) grew per event, and the CPU the server and the client spent.
    A ``run`` with a ``warm_up()`` (:class:`StreamerRun`) is warmed up first, outside all of these."""
    warm_up = getattr(run, "warm_up", None)
    if warm_up is not None:
        warm_up()
    before = count(c)
    client, server = client_cpu(), server_cpu(c)
    events, elapsed = run(seconds)
    measure.server_seconds += server_cpu(c) - server
    measure.client_seconds += client_cpu() - client
    measure.events += events
    measure.rates.append(events / elapsed)
    measure.changes.append((count(c) - before) / max(events, 1))


class StreamerRun:
    """``streamer`` at full speed for a given number of seconds -> (events, seconds). With
    ``warm_up``, :func:`timed` first runs a batch it does not count (the clock refresh after a long
    pause, a session opened again), outside the measured time, rows and CPU."""

    def __init__(self, streamer: Streamer, warm_up: bool = True) -> None:
        self.streamer = streamer
        self.batch = 100 * len(streamer.writers)
        self.warms_up = warm_up

    def warm_up(self) -> None:
        if self.warms_up:
            self.streamer.run_events(self.batch)

    def __call__(self, seconds: float) -> tuple[int, float]:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            done += self.streamer.run_events(self.batch)
        return done, time.perf_counter() - start
