"""bench/settle_bench.py: the two designs it measures against the daemon's mark commit every
event they count, and the txid design leaves no transaction open."""

from __future__ import annotations

import pytest
from psycopg import pq

from daemon.pg import pipeline
from tests.support.bench import ROWS, import_bench
from tests.support.db import query


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_the_designs_commit_every_event_they_count(make_config, make_streamer, db, monkeypatch):
    import_bench(monkeypatch)
    import settle_bench

    config = make_config(STREAM_OP_WEIGHTS="insert=1")
    events = settle_bench.Events(make_streamer(config))
    for design in (settle_bench.txid_first_run, settle_bench.unmarked_run):
        session = pipeline.Pipeline(pipeline.connect(config.pg, "settle-bench-test"))
        try:
            before = query(db, ROWS)[0][0]
            done, seconds = design(session, events)(0.3)
            assert done > 10 and seconds >= 0.3
            # every event counted was committed: the tables gained one row per insert
            # (an enrolment that finds no free convênio adds none; none at this size)
            assert query(db, ROWS)[0][0] - before == done, design.__name__
            assert session.in_flight == 0
            assert session.pgconn.transaction_status == pq.TransactionStatus.IDLE, design.__name__
        finally:
            session.close()
