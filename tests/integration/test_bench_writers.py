"""bench/writers_bench.py: writer processes count only the events they committed, and their
server CPU is measured."""

from __future__ import annotations

import pytest

from tests.support.bench import ROWS, import_bench
from tests.support.db import query


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_writer_processes_commit_every_event_they_count(cluster, pg_env, db, monkeypatch):
    import_bench(monkeypatch)
    import common
    import writers_bench

    measure = common.Measure()
    before = query(db, ROWS)[0][0]
    writers_bench.processes_run(cluster, {**pg_env, "STREAM_OP_WEIGHTS": "insert=1"}, 2)(0.5, measure)
    assert measure.events > 10 and len(measure.rates) == 1
    # insert-only (enrolments off): one row per event; every event counted was committed, and
    # the warm-up's are not counted
    assert query(db, ROWS)[0][0] - before == measure.events + 2 * writers_bench.WARM_UP_EVENTS
    assert measure.server_us > 0
