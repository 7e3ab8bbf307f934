"""Updates and deletes: lifecycles move forward, the mix is honoured, the ledger tells the truth."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from daemon.cdc.ledger import Ledger
from daemon.stream.streamer import Streamer
from tests.support.db import only, query


def run_events(streamer: Streamer, n: int) -> list:
    changes = [only(streamer.run_event()) for _ in range(n)]
    streamer.close()
    return changes


@pytest.mark.seeded(SEED_SCALE="0.1")
def test_default_mix_has_every_operation_and_the_ledger_matches(make_config, make_streamer, db, tmp_path):
    config = make_config()
    ledger = Ledger(tmp_path / "ledger.jsonl")
    streamer = make_streamer(config, ledger)
    events = [streamer.run_event() for _ in range(400)]
    streamer.close()
    ledger.close()
    assert all(events)
    ops = Counter("episode" if len(cs) > 1 or cs[0].episode else cs[0].op for cs in events)
    weights = config.stream.op_weights
    for op, weight in weights.items():  # each operation near its configured share (400 draws)
        assert ops[op] > 0 and abs(ops[op] / 400 - weight / sum(weights.values())) < 0.08, (op, ops)
    changes = [c for cs in events for c in cs]
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [(e["table"], e["op"], e["pk"], e["txid"], e.get("episode")) for e in lines] == [
        (c.table, c.op, c.pk, c.txid, c.episode) for c in changes
    ]
    assert all(len({c.txid for c in cs}) == 1 for cs in events)  # one transaction per event ...
    assert len({cs[0].txid for cs in events}) == len(events)  # ... and a new one for each
    assert any(len(cs) >= 2 and len({c.table for c in cs}) >= 2 for cs in events)  # multi-table episodes
    final_op = {(c.table, c.pk): c.op for c in changes}
    for (table, pk), op in final_op.items():
        present = query(db, f"SELECT count(*) FROM {table} WHERE id = %s", (pk,))[0][0]
        assert present == (0 if op == "delete" else 1), (table, pk, op)


@pytest.mark.parametrize(
    ("weights", "table", "check"),
    [
        (
            "consulta_status=1",
            "consultas",
            "SELECT status <> 'agendada' AND (status = 'cancelada' OR data <= now()) FROM consultas WHERE id = %s",
        ),
        ("exame_resultado=1", "exames", "SELECT resultado IS NOT NULL AND data <= now() FROM exames WHERE id = %s"),
        (
            "internacao_alta=1",
            "internacoes",
            "SELECT data_saida >= data_entrada AND data_saida <= now() FROM internacoes WHERE id = %s",
        ),
        ("paciente_contato=1", "pacientes", "SELECT updated_at > created_at FROM pacientes WHERE id = %s"),
        (
            "convenio_renovacao=1",
            "pacientes_convenios",
            "SELECT validade > current_date FROM pacientes_convenios WHERE id = %s",
        ),
    ],
)
@pytest.mark.seeded(SEED_SCALE="0.2")
def test_each_update_moves_its_row_forward(make_config, make_streamer, db, weights, table, check):
    config = make_config(STREAM_OP_WEIGHTS="update=1", STREAM_UPDATE_WEIGHTS=weights)
    changes = run_events(make_streamer(config), 30)
    assert all(c is not None and c.table == table and c.op == "update" for c in changes)
    for change in changes:
        assert query(db, check, (change.pk,))[0][0] is True


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_consultas_never_move_back(make_config, make_streamer, db):
    config = make_config(STREAM_OP_WEIGHTS="update=1", STREAM_UPDATE_WEIGHTS="consulta_status=1")
    streamer = make_streamer(config)
    agendadas = query(db, "SELECT count(*) FROM consultas WHERE status = 'agendada'")[0][0]
    changes = [only(streamer.run_event()) for _ in range(agendadas + 5)]
    streamer.close()
    assert sum(c is not None for c in changes) == agendadas  # every scheduled one moved once ...
    assert query(db, "SELECT count(*) FROM consultas WHERE status = 'agendada'")[0][0] == 0
    assert streamer.stats.failures["nothing_to_do"] == 5  # ... and then there was nothing left to move


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_long_reports_are_toasted(make_config, make_streamer, db):
    config = make_config(
        STREAM_OP_WEIGHTS="update=1",
        STREAM_UPDATE_WEIGHTS="exame_resultado=1",
        STREAM_TOAST_SHARE="1",
    )
    changes = run_events(make_streamer(config), 10)
    ids = [c.pk for c in changes]
    sizes = query(db, "SELECT octet_length(resultado) FROM exames WHERE id = ANY(%s)", (ids,))
    assert len(sizes) == 10 and all(3000 <= n <= 12_500 for (n,) in sizes)
    toast = query(db, "SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = 'exames'")[0][0]
    assert query(db, f"SELECT count(DISTINCT chunk_id) FROM {toast}")[0][0] >= 10


@pytest.mark.seeded(SEED_SCALE="0.2")
def test_deletes_only_remove_enrolments_and_cancelled_consultas(make_config, make_streamer, db):
    config = make_config(STREAM_OP_WEIGHTS="delete=1")
    streamer = make_streamer(config)
    eligible = {r[0] for r in query(db, "SELECT id FROM consultas WHERE status = 'cancelada'")}
    changes = run_events(streamer, 60)
    assert all(c is not None and c.op == "delete" for c in changes)
    per_table = Counter(c.table for c in changes)
    assert set(per_table) == {"pacientes_convenios", "consultas"}
    assert {c.pk for c in changes if c.table == "consultas"} <= eligible
    for change in changes:
        assert query(db, f"SELECT count(*) FROM {change.table} WHERE id = %s", (change.pk,))[0][0] == 0


@pytest.mark.seeded(SEED_SCALE="0.2")
def test_retention_waits_for_the_cancellation_to_age(make_config, make_streamer, db):
    config = make_config(
        STREAM_OP_WEIGHTS="delete=1", STREAM_DELETE_WEIGHTS="consulta_retencao=1", STREAM_RETENTION_DAYS="30"
    )
    streamer = make_streamer(config)
    aged = query(
        db,
        "UPDATE consultas SET status = 'cancelada' WHERE id IN (SELECT id FROM consultas ORDER BY id LIMIT 3) "
        "RETURNING id",
    )
    # The trigger stamps updated_at; back-date these three cancellations past the retention period.
    query(
        db,
        "ALTER TABLE consultas DISABLE TRIGGER USER; UPDATE consultas SET updated_at = now() - interval '31 days' "
        "WHERE id = ANY(%s); ALTER TABLE consultas ENABLE TRIGGER USER; SELECT 1",
        ([r[0] for r in aged],),
    )
    changes = [c for c in run_events(streamer, 10) if c is not None]
    assert sorted(c.pk for c in changes) == sorted(r[0] for r in aged)  # the recent cancellations stay


@pytest.mark.seeded(SEED_SCALE="0.2", SEED_CONVENIOS="60")
def test_enrolment_inserts_unique_pairs(make_config, make_streamer, db):
    config = make_config(
        STREAM_OP_WEIGHTS="insert=1",
        STREAM_INSERT_WEIGHTS="pacientes_convenios=1",
    )
    changes = run_events(make_streamer(config), 50)
    assert all(c is not None and c.table == "pacientes_convenios" for c in changes)
    dupes = query(
        db,
        "SELECT count(*) FROM (SELECT paciente_id, convenio_id FROM pacientes_convenios "
        "GROUP BY 1, 2 HAVING count(*) > 1) d",
    )[0][0]
    assert dupes == 0
