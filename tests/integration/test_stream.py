from __future__ import annotations

import json
from collections import Counter

import pytest

from daemon.data.brazil import cpf_for_index
from daemon.pg import schema
from tests.support.db import only, query

pytestmark = pytest.mark.seeded(SEED_SCALE="0.05")  # the database of every test, unless it says otherwise


def table_counts(db) -> dict[str, int]:
    return {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in schema.TABLES}


INSERT_ONLY = {"STREAM_OP_WEIGHTS": "insert=1"}


def test_events_commit_with_valid_foreign_keys(make_config, make_streamer, db):
    streamer = make_streamer(make_config(**INSERT_ONLY))
    before = table_counts(db)
    changes = [only(streamer.run_event()) for _ in range(300)]
    streamer.close()
    assert all(c is not None for c in changes)
    after = table_counts(db)
    reported = Counter(c.table for c in changes)
    for table in schema.TABLES:
        assert after[table] - before[table] == reported.get(table, 0)
    assert streamer.stats.committed == Counter((c.table, c.op) for c in changes)
    # every change reported is in the database, by primary key
    for change in changes:
        assert query(db, f"SELECT count(*) FROM {change.table} WHERE id = %s", (change.pk,))[0][0] == 1
    # new rows reference pacientes created by the stream as well as seeded ones
    new_pacientes = {c.pk for c in changes if c.table == "pacientes"}
    referenced = {r[0] for r in query(db, "SELECT paciente_id FROM consultas UNION SELECT paciente_id FROM exames")}
    assert new_pacientes and all(query(db, "SELECT 1 FROM pacientes WHERE id = %s", (pk,)) for pk in referenced)


def test_insert_mix_follows_weights(make_config, make_streamer):
    streamer = make_streamer(make_config(**INSERT_ONLY))
    for _ in range(600):
        streamer.run_event()
    streamer.close()
    per_table = Counter({t: n for (t, _), n in streamer.stats.committed.items()})
    total = sum(per_table.values())
    assert total == 600
    assert abs(per_table["consultas"] / total - 0.55) < 0.07
    assert abs(per_table["exames"] / total - 0.25) < 0.06
    assert abs(per_table["internacoes"] / total - 0.15) < 0.05
    assert abs(per_table["pacientes"] / total - 0.10) < 0.04


def test_duplicate_cpf_rolls_back_and_is_counted(make_config, make_streamer, db):
    streamer = make_streamer(make_config(STREAM_INSERT_WEIGHTS="pacientes=1"))
    next_id = query(db, "SELECT last_value + 1 FROM pacientes_id_seq")[0][0]
    query(
        db,
        "INSERT INTO pacientes (id, nome, nascimento, cpf) VALUES (999999, 'Intrusa', '1990-01-01', %s) RETURNING id",
        (cpf_for_index(next_id),),
    )
    before = table_counts(db)["pacientes"]
    assert streamer.run_event() == []
    assert streamer.stats.failures["integrity"] == 1
    assert streamer.run_event()  # the stream goes on
    streamer.close()
    assert table_counts(db)["pacientes"] == before + 1
    assert sum(streamer.stats.committed.values()) == 1


@pytest.mark.seeded(
    SEED_PACIENTES="0",
    SEED_MEDICOS="0",
    SEED_CONSULTAS="0",
    SEED_EXAMES="0",
    SEED_INTERNACOES="0",
    SEED_PACIENTES_CONVENIOS="0",
)
def test_only_possible_events_are_chosen(make_config, make_streamer, db):
    config = make_config()
    streamer = make_streamer(config)
    first = only(streamer.run_event())
    assert first is not None and first.table == "pacientes"  # nothing else can reference anything yet
    streamer.close()


def test_connection_loss_is_counted_and_recovered(make_config, make_streamer, db):
    streamer = make_streamer(make_config())
    assert streamer.run_event()
    pid = streamer.writers[0].session().pgconn.backend_pid
    query(db, "SELECT pg_terminate_backend(%s)", (pid,))
    results = [streamer.run_event() for _ in range(3)]
    streamer.close()
    assert results[0] == [] and streamer.stats.failures["connection"] == 1
    assert all(results[1:])


def test_summary_line_format(make_config, make_streamer):
    streamer = make_streamer(make_config())
    for _ in range(20):
        streamer.run_event()
    streamer.close()
    text = streamer.stats.summary()
    assert text.startswith("consultas: ") and " | exames: " in text and " | internacoes: " in text
    assert " | pacientes: " in text and " | falhas: 0 (insert " in text


def _summary_ticks(streamer, ticks: int, clock_step: list[float] | None = None) -> list[int]:
    """Run ``ticks`` ticks; the tick numbers after which a summary was logged."""
    logged: list[int] = []
    streamer.log_summary = lambda: logged.append(streamer.stats.ticks)
    for _ in range(ticks):
        if clock_step is not None:
            clock_step[0] += clock_step[1]
        streamer.tick()
    return logged


def test_first_summary_comes_early_then_the_normal_cadence(make_config, make_streamer):
    """A first sign of life after 5 ticks, not after SUMMARY_EVERY_TICKS (~110 s at the defaults)."""
    streamer = make_streamer(make_config(SUMMARY_EVERY_TICKS="20", EVENTS_PER_TICK="1"))
    assert _summary_ticks(streamer, 45) == [5, 20, 40]


def test_first_summary_comes_within_ten_seconds_of_slow_ticks(make_config, make_streamer):
    """Ticks of 4 s: the early summary comes once 10 s have passed (tick 3), before the 5th tick."""
    now = [0.0, 4.0]
    streamer = make_streamer(make_config(SUMMARY_EVERY_TICKS="20"), clock=lambda: now[0])
    assert _summary_ticks(streamer, 21, clock_step=now) == [3, 20]


@pytest.mark.seeded(SEED_SCALE="0.1")
def test_several_writers_commit_every_event_once(make_config, make_streamer, db, tmp_path):
    from daemon.cdc.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.jsonl")
    config = make_config(STREAM_WRITERS="4")
    streamer = make_streamer(config, ledger=ledger)
    rows_before = sum(table_counts(db).values())
    done = streamer.run_events(400)
    pids = {w.pipeline.pgconn.backend_pid for w in streamer.writers if w.pipeline is not None}
    streamer.close()
    ledger.close()
    assert len(pids) == 4  # four connections took part
    entries = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert done == sum(streamer.stats.kinds.values())  # events (an episode is one event of several changes)
    assert len(entries) == sum(streamer.stats.committed.values())
    assert done >= 390  # a few may find nothing to do or lose a race (counted as failures)
    assert done + sum(streamer.stats.failures.values()) >= 400
    ops = Counter(json.loads(line)["op"] for line in entries)
    assert sum(table_counts(db).values()) - rows_before == ops["insert"] - ops["delete"]  # committed, each once
    orphans = query(
        db, "SELECT count(*) FROM consultas c LEFT JOIN pacientes p ON p.id = c.paciente_id WHERE p.id IS NULL"
    )[0][0]
    assert orphans == 0


def test_rate_mode_tick_runs_what_is_due(make_config, make_streamer):
    clock = [0.0]
    streamer = make_streamer(make_config(STREAM_RATE="50"), clock=lambda: clock[0])
    assert streamer.tick_seconds == 0.1
    clock[0] = 1.0  # one second of target is due
    streamer.tick()
    streamer.close()
    assert sum(streamer.stats.kinds.values()) + sum(streamer.stats.failures.values()) == 50


def test_falling_behind_is_said_and_counted(make_config, make_streamer):
    from loguru import logger

    clock = [0.0]
    streamer = make_streamer(make_config(STREAM_RATE="20"), clock=lambda: clock[0])
    clock[0] = 60.0  # a minute without a tick: far more than the database was given time for
    records = []
    handler = logger.add(lambda m: records.append(m.record), level="WARNING")
    try:
        streamer.tick()
    finally:
        logger.remove(handler)
        streamer.close()
    assert streamer.pacer.dropped == 20 * 60 - 100  # 5 s of target kept, the rest dropped
    assert streamer.metrics.registry.get_sample_value("hospital_sim_events_dropped_total") == streamer.pacer.dropped
    behind = [r for r in records if r["extra"].get("event") == "stream.behind"]
    assert behind and "falling behind" in behind[0]["message"]


def test_interval_mode_reports_the_achieved_rate(make_config, make_streamer):
    """No pacer, yet hospital_sim_achieved_events_per_second is committed events over a 10 s window."""
    clock = [0.0]
    config = make_config(STREAM_INTERVAL_SECONDS="1", EVENTS_PER_TICK="4", **INSERT_ONLY)
    streamer = make_streamer(config, clock=lambda: clock[0])
    achieved = lambda: streamer.metrics.registry.get_sample_value("hospital_sim_achieved_events_per_second")  # noqa: E731
    committed = lambda: sum(streamer.stats.kinds.values())  # noqa: E731
    assert achieved() == 0
    for second in (1.0, 2.0, 3.0, 4.0):
        clock[0] = second
        streamer.tick()
    assert committed() > 0 and achieved() == pytest.approx(committed() / 4)
    assert streamer.metrics.registry.get_sample_value("hospital_sim_target_events_per_second") == 0
    before = committed()
    clock[0] = 30.0  # the earlier ticks leave the window
    streamer.tick()
    streamer.close()
    assert achieved() == pytest.approx((committed() - before) / 10)
