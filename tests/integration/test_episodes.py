"""Clinical episodes: several changes on several tables, one transaction, one round trip; the
deliberately failing ones leave nothing behind."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from daemon.cdc.ledger import Ledger
from daemon.stream.kinds.episodes import EPISODES
from daemon.stream.stats import DELIBERATE_ROLLBACK
from tests.support.db import query
from tests.support.inflight import settled_as_lost

KINDS = {k.name: k for k in EPISODES}


def counts(db) -> dict[str, int]:
    tables = ("consultas", "exames", "internacoes", "pacientes_convenios")
    return {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}


@pytest.mark.seeded(SEED_SCALE="0.1")
@pytest.mark.parametrize(
    ("episode", "expected"),
    [
        ("atendimento", Counter({("consultas", "update"): 1, ("exames", "insert"): 2})),
        ("admissao", Counter({("consultas", "update"): 1, ("exames", "insert"): 1, ("internacoes", "insert"): 1})),
        ("alta", Counter({("internacoes", "update"): 1, ("consultas", "insert"): 1})),
        (
            "troca_convenio",
            Counter({("pacientes_convenios", "delete"): 1, ("pacientes_convenios", "insert"): 1,
                     ("pacientes_convenios", "update"): 1}),
        ),
    ],
)  # fmt: skip
def test_an_episode_is_one_transaction_over_several_tables(make_config, make_streamer, db, tmp_path, episode, expected):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    config = make_config(
        STREAM_OP_WEIGHTS="episode=1", STREAM_EPISODE_WEIGHTS=f"{episode}=1", STREAM_EPISODE_FAILURE_SHARE="0"
    )
    streamer = make_streamer(config, ledger)
    # (a kind may find nothing to do: a troca_convenio needs a card whose holder lacks a convênio)
    events: list = []
    for _ in range(40):
        if len(events) < 5 and (changes := streamer.run_event()):
            events.append(changes)
    ledger.close()
    assert len(events) == 5
    for changes in events:
        assert Counter((c.table, c.op) for c in changes) == expected
        assert len({c.txid for c in changes}) == 1 and all(c.episode == episode for c in changes)
        for change in changes:  # each change is in the database as reported
            present = query(db, f"SELECT count(*) FROM {change.table} WHERE id = %s", (change.pk,))[0][0]
            assert present == (0 if change.op == "delete" else 1)
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [(e["table"], e["op"], e["pk"], e["txid"], e["episode"]) for e in lines] == [
        (c.table, c.op, c.pk, c.txid, c.episode) for cs in events for c in cs
    ]
    assert streamer.stats.episodes == len(events) and streamer.stats.episode_changes == len(lines)
    if episode == "troca_convenio":  # the same row inserted then updated, in one transaction
        for changes in events:
            inserted = next(c.pk for c in changes if c.op == "insert")
            assert next(c.pk for c in changes if c.op == "update") == inserted
    if episode in ("atendimento", "admissao"):  # the new rows belong to the consulta's paciente
        for changes in events:
            consulta = next(c.pk for c in changes if c.table == "consultas")
            paciente = query(db, "SELECT paciente_id FROM consultas WHERE id = %s", (consulta,))[0][0]
            for change in changes:
                if change.op == "insert":
                    row = query(db, f"SELECT paciente_id FROM {change.table} WHERE id = %s", (change.pk,))
                    assert row == [(paciente,)]


@pytest.mark.seeded(SEED_SCALE="0.1")
def test_an_episode_that_fails_on_purpose_leaves_nothing(make_config, make_streamer, db, tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    config = make_config(
        STREAM_OP_WEIGHTS="episode=1", STREAM_EPISODE_WEIGHTS="admissao=1", STREAM_EPISODE_FAILURE_SHARE="1"
    )
    streamer = make_streamer(config, ledger)
    before = counts(db)
    agendadas = query(db, "SELECT count(*) FROM consultas WHERE status = 'agendada'")[0][0]
    results = [streamer.run_event() for _ in range(5)]
    ledger.close()
    assert results == [[]] * 5
    assert streamer.stats.failures[DELIBERATE_ROLLBACK] == 5
    assert "falhas: 0" in streamer.stats.summary()  # deliberate, not a failure
    assert counts(db) == before  # the consulta update and the exam insert rolled back with the internação
    assert query(db, "SELECT count(*) FROM consultas WHERE status = 'agendada'")[0][0] == agendadas
    assert (tmp_path / "ledger.jsonl").read_text() == ""


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_an_episode_in_doubt_is_settled_by_the_writer_row(make_config, make_streamer):
    config = make_config(STREAM_OP_WEIGHTS="episode=1", STREAM_EPISODE_WEIGHTS="troca_convenio=1")
    streamer = make_streamer(config)
    writer, kind = streamer.writers[0], KINDS["troca_convenio"]
    changes = None
    while changes is None:
        flight = writer.send(kind)
        changes = writer.receive().changes
    assert flight is not None
    settled = settled_as_lost(writer, flight)
    assert settled == changes and len(changes) == 3
