"""bench/common.py's CPU accounting: the server's counts a backend that has exited (pgbench opens
its own, and closes them before the measure ends) once, and the client's counts a child that has
exited (pgbench)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.pg.cluster import temporary_cluster
from tests.support.db import admin_connect, wait_until

BUSY_QUERY = "SELECT count(*) FROM generate_series(1, 4000000) g WHERE g % 7 = 3"
SLACK = 0.3  # CPU seconds the cluster's other processes (its background writers) may add meanwhile
TICK = 1 / os.sysconf("SC_CLK_TCK")  # /proc's unit


def own_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK


@pytest.fixture(scope="module")
def quiet_cluster():
    """A cluster of its own: no other test's databases for autovacuum to work on meanwhile."""
    with temporary_cluster("hsim-cpu-test-") as c:
        yield c


def test_server_cpu_counts_a_backend_that_has_exited_once(bench_common, quiet_cluster):
    cluster = quiet_cluster
    before = bench_common.server_cpu(cluster)
    conn = admin_connect(cluster)
    pid = conn.get_backend_pid()
    try:
        with conn.cursor() as cur:
            cur.execute(BUSY_QUERY)
            cur.fetchall()
        spent = own_cpu(pid)  # the backend's CPU, read while it still runs
    finally:
        conn.close()  # the backend exits: its CPU now counts only in the postmaster's children time
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10, "the backend to exit and be reaped")
    used = bench_common.server_cpu(cluster) - before
    assert spent > 0.05  # enough work to measure at clock-tick resolution
    assert spent - TICK <= used <= spent + SLACK, (used, spent)  # (sums of ticks, as floats)


def test_client_cpu_counts_a_child_that_has_exited(bench_common):
    before = bench_common.client_cpu()
    child = "import time; sum(i * i for i in range(3_000_000)); print(time.process_time())"
    spent = float(subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, text=True).stdout)
    used = bench_common.client_cpu() - before
    assert spent > 0.05
    assert spent - 2 * TICK <= used <= spent + SLACK, (used, spent)  # the child's reading is not in ticks
