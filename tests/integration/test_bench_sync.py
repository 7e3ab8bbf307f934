"""bench/common.py's commit-sync probe: it times what PostgreSQL's own pg_test_fsync times for an
8 kB write and fdatasync on the same disk (a probe that skipped the sync, or synced something
else, would be off by an order of magnitude)."""

from __future__ import annotations

import re
import subprocess

from daemon.pg.cluster import find_bindir

# pg_test_fsync's line for fdatasync under "Compare file sync methods using one 8kB write"
FDATASYNC = re.compile(r"^\s+fdatasync\s+[\d.]+ ops/sec\s+(\d+) usecs/op$", re.MULTILINE)
BAND = 3.0  # this machine's disk is shared: two readings a few seconds apart differ, not tenfold


def pg_test_fsync_us(directory) -> float:
    out = subprocess.run(
        [str(find_bindir() / "pg_test_fsync"), "-s", "1", "-f", str(directory / "pg_test_fsync.out")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    found = FDATASYNC.search(out)
    assert found, out
    return float(found.group(1))


def test_probe_times_what_pg_test_fsync_times(bench_common, tmp_path):
    probe = bench_common.commit_sync_us(tmp_path, seconds=1.0)
    reference = pg_test_fsync_us(tmp_path)
    again = bench_common.commit_sync_us(tmp_path, seconds=1.0)
    low, high = sorted((probe, again))
    assert reference / BAND <= high and low <= reference * BAND, (probe, again, reference)
    assert list(tmp_path.iterdir()) == [], "the probe leaves no file behind"


def test_machine_line_names_the_sync(bench_common):
    assert bench_common.machine(89.4).endswith("commit sync (8 kB write + fdatasync, the cluster's disk) 89 µs")
    assert "commit sync" not in bench_common.machine()
