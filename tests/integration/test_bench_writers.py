"""bench/writers_bench.py: writer processes count exactly the events they committed in the
measured window, with their CPU; a process that fails stops the run at once, naming its exit code."""

from __future__ import annotations

import time

import pytest

from tests.support.bench import ROWS
from tests.support.db import query


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_writer_processes_commit_every_event_they_count(cluster, pg_env, db, monkeypatch, bench_common):
    import writers_bench

    monkeypatch.setenv("STREAM_WRITERS", "4")  # the shell's settings do not reach the processes
    measure = bench_common.Measure()
    before = query(db, ROWS)[0][0]
    writers_bench.processes_run(cluster, {**pg_env, "STREAM_OP_WEIGHTS": "insert=1"}, 2)(0.5, measure)
    assert measure.events > 10 and len(measure.rates) == 1
    # insert-only (enrolments off): one row per event; every event counted was committed, and
    # the warm-up's (one writer each, not four) are not counted
    assert query(db, ROWS)[0][0] - before == measure.events + 2 * writers_bench.WARM_UP_EVENTS
    assert 0 < measure.client_seconds < 2 * 0.5 * 1.5  # the two processes' own, over the window only
    assert 1 < measure.server_us < 10_000


def test_a_writer_process_that_fails_stops_the_run_at_once(cluster, pg_env, bench_common):
    import writers_bench

    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"did not get ready \(exit codes of those that ended: \[1"):
        writers_bench.processes_run(cluster, {**pg_env, "STREAM_OP_WEIGHTS": "nonsense=1"}, 2)(
            0.5, bench_common.Measure()
        )
    assert time.monotonic() - started < 30  # not the step timeout
