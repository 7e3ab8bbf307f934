"""Shared helpers for the benchmarks: a throwaway cluster, the daemon as a process, machine facts."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from daemon.pg.cluster import LocalCluster, find_bindir, temporary_cluster  # noqa: E402


def cluster(durable: bool = True):
    """A fresh PostgreSQL (logical WAL) in a temp dir; durable by default, like a real server."""
    return temporary_cluster("hsim-bench-", durable=durable)


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
        f"{version.strip()}"
    )
