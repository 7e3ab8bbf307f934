"""bench/common.py's CPU accounting: the server's CPU per event counts backends that have exited
(pgbench opens its own, and closes them before the measure ends), and the client's counts pgbench."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.bench import import_bench
from tests.support.db import admin_connect, wait_until

BUSY_QUERY = "SELECT count(*) FROM generate_series(1, 4000000) g WHERE g % 7 = 3"


@pytest.fixture
def common(monkeypatch):
    import_bench(monkeypatch)
    import common

    return common


def test_server_cpu_counts_a_backend_that_has_exited(common, cluster):
    before = common.server_cpu(cluster)
    conn = admin_connect(cluster)
    backend = Path(f"/proc/{conn.get_backend_pid()}")
    try:
        with conn.cursor() as cur:
            started = time.process_time(), time.perf_counter()
            cur.execute(BUSY_QUERY)
            cur.fetchall()
            client, wall = time.process_time() - started[0], time.perf_counter() - started[1]
    finally:
        conn.close()  # the backend exits: its CPU now counts only in the postmaster's children time
    wait_until(lambda: not backend.exists(), 10, "the backend to exit and be reaped")
    used = common.server_cpu(cluster) - before
    assert wall > 0.1  # enough work to measure at clock-tick resolution
    assert used >= 0.5 * (wall - client), (used, wall)


def test_client_cpu_counts_a_child_that_has_exited(common):
    before = common.client_cpu()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    wall = time.perf_counter() - started
    assert common.client_cpu() - before >= 0.5 * wall
