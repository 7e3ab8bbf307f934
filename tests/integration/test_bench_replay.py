"""bench/replay.py: the daemon's own statements as pgbench scripts run against a real database,
floors included (a state emptied gives pgbench the index's start, as it gives the writer)."""

from __future__ import annotations

import re
import subprocess

import pytest

from bench.common import pg_tool
from bench.replay import render
from daemon.stream.stats import DELIBERATE_ROLLBACK
from tests.support.db import query


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_pgbench_replays_the_default_mix_with_the_writers_floors(
    cluster, database, make_config, make_streamer, db, tmp_path
):
    streamer = make_streamer(make_config())
    committed = streamer.run_events(2000)  # floors learned, signed exams and cancellations to delete
    # every event committed but the admissions built to roll back (STREAM_EPISODE_FAILURE_SHARE)
    assert committed + streamer.stats.failures[DELIBERATE_ROLLBACK] == 2000
    query(db, "DELETE FROM consultas WHERE status = 'cancelada' RETURNING 1")  # one state empty
    scripts = render(streamer, tmp_path / "scripts")
    definitions = dict(d.split("=", 1) for d in scripts.floor_definitions()[1::2])
    assert definitions["hsim_floor_canceladas"] == "-infinity 0"  # empty: from the index's start
    when, pk = definitions["hsim_floor_assinados"].split(" ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", when) and int(pk) > 0
    assert int(definitions["hsim_floor_agendadas"]) > 0
    before = query(db, "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")[0][0]
    for mode in ("pipelined", "prepared"):
        args = scripts.args[mode] + scripts.floor_definitions()
        run = subprocess.run(
            [
                *pg_tool("pgbench", cluster),
                "-n",
                "-M",
                "prepared",
                "-c",
                "1",
                "-t",
                "60",
                *args,
                database,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        assert re.search(r"number of failed transactions: 0\b", run.stdout), run.stdout
    query(db, "SELECT pg_stat_force_next_flush(); SELECT 1")
    after = query(db, "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")[0][0]
    assert after - before >= 60  # 60 pipelines of 3 events and 60 single events changed rows
