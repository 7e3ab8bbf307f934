"""STREAM_DDL_EVERY_SECONDS: faturamento's schema changes run in order, one transaction each, in
the ledger and LEDGER_TABLE; the stream uses each as it commits; a restarted daemon (or another
replica) continues the sequence from the catalogue, replicas take turns, and a column dropped
under a writer costs one event, not the stream."""

from __future__ import annotations

import json

import pytest

from daemon.cdc.ledger import Ledger, read_ledger
from daemon.stream.ddl import DDL_LOCK_KEY, STEPS, next_step
from daemon.stream.flights import PIPELINE_DEPTH
from daemon.stream.kinds.recurso import guia_recurso
from daemon.stream.kinds.shape import EM_RECURSO, OBSERVACAO, SENHA, VERSAO_TISS
from daemon.stream.message import episode_statements, message_params
from tests.integration.test_steady_state import plan_nodes
from tests.support.db import admin_connect, query

BILLING = {"SCHEMA_EXTRAS": "faturamento", "SEED_SCALE": "0.2"}
EVERY = 10.0
# Mostly guia events (the default mix weighs 131.65 in all), settling most (glosas to note and appeal).
GUIAS_ONLY = {
    "STREAM_EXTRA_WEIGHTS": "guia_abertura=200,guia_faturamento=200,guia_desfecho=400,guia_recurso=200",
    "STREAM_EPISODE_FAILURE_SHARE": "0",  # every event commits: counts are exact
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def columns(db) -> dict[str, int | None]:
    rows = query(db, "SELECT attname, CASE WHEN atttypmod > 0 THEN atttypmod - 4 END FROM pg_attribute "
                     "WHERE attrelid = 'faturamento'::regclass AND attnum > 0 AND NOT attisdropped")  # fmt: skip
    return dict(rows)


def labels(db) -> list[str]:
    return [r[0] for r in query(db, "SELECT unnest(enum_range(NULL::status_guia))::text")]


@pytest.fixture
def streamer_with_ddl(make_config, make_streamer, bootstrap, tmp_path):
    """``streamer_with_ddl(clock, **variables)``: a streamer making schema changes every EVERY
    seconds of ``clock``, with LEDGER_TABLE and a ledger file."""

    ledgers: list[Ledger] = []

    def make(clock, **extra):
        config = make_config(STREAM_DDL_EVERY_SECONDS=str(EVERY), LEDGER_TABLE="hsim_ledger", **{**GUIAS_ONLY, **extra})
        bootstrap(config)
        ledgers.append(Ledger(tmp_path / "ledger.jsonl"))
        return make_streamer(config, ledger=ledgers[-1], clock=clock), ledgers[-1]

    yield make
    for ledger in ledgers:
        ledger.close()


@pytest.mark.seeded(**BILLING)
def test_the_sequence_runs_in_order_and_the_stream_uses_each_change(streamer_with_ddl, db, tmp_path):
    clock = Clock()
    streamer, ledger = streamer_with_ddl(clock)
    assert streamer.ddl is not None and streamer.ddl.check() is None  # not due before an interval
    before = query(db, "SELECT max(id) FROM faturamento")[0][0]
    made = []
    for step in STEPS:
        clock.now += EVERY
        change = streamer.ddl.check()
        assert change is not None and dict(change.detail)["step"] == step.name
        made.append(change)
        assert streamer.ddl.check() is None  # one step an interval
        assert streamer.run_events(250) == 250
    assert streamer.ddl.complete
    clock.now += EVERY
    assert streamer.ddl.check() is None
    # the catalogue after the sequence; the seven tables' columns untouched
    shape = columns(db)
    assert OBSERVACAO not in shape and shape[VERSAO_TISS] == 8 and shape[SENHA] == 20
    assert labels(db) == ["aberta", "faturada", "glosada", EM_RECURSO, "paga"]
    # what the stream wrote with each change
    new = query(db, "SELECT versao_tiss, count(*), max(length(senha_autorizacao)) FROM faturamento "
                    "WHERE id > %s GROUP BY 1", (before,))  # fmt: skip
    by_version = {v: (n, longest) for v, n, longest in new}
    assert by_version["4.02.00"][0] > by_version.get("4.01.00", (0, 0))[0] > 0 and max(m for _, _, m in new) > 12
    assert query(db, "SELECT DISTINCT versao_tiss FROM faturamento WHERE id <= %s", (before,)) == [("4.01.00",)]
    appeals = streamer.stats.kinds["guia_recurso"]
    assert appeals > 10 and not streamer.stats.failures
    # an appeal: the glosada internação guia in em_recurso, and a recurso_glosa guia for the refused amount
    assert query(db, "SELECT tipo_guia, count(*) FROM faturamento WHERE status = 'em_recurso' GROUP BY 1 "
                     "ORDER BY 1") == [("internacao", appeals), ("recurso_glosa", appeals)]  # fmt: skip
    assert (
        query(
            db,
            "SELECT count(*) FROM faturamento a JOIN faturamento g ON g.internacao_id = a.internacao_id "
            "AND g.status = 'em_recurso' AND g.tipo_guia = 'internacao' AND g.valor_glosado = a.valor_total "
            "WHERE a.tipo_guia = 'recurso_glosa'",
        )[0][0]
        >= appeals
    )
    # ledger file and LEDGER_TABLE agree, one ddl line a step, with its statement
    ddl = [e for e in read_ledger(ledger.path) if e["op"] == "ddl"]
    assert [e["step"] for e in ddl] == [s.name for s in STEPS]
    assert [e["txid"] for e in ddl] == [c.txid for c in made] == sorted(c.txid for c in made)
    assert all(e["table"] == "faturamento" and e["pk"] == 0 and e["statement"].startswith("ALTER ") for e in ddl)
    assert ddl[1]["default"] == "4.01.00" and ddl[2]["width"] == 20 and ddl[3]["label"] == EM_RECURSO
    rows = query(db, "SELECT txid, detail FROM hsim_ledger WHERE op = 'ddl' ORDER BY id")
    assert [(t, d["step"], d["statement"]) for t, d in rows] == [(e["txid"], e["step"], e["statement"]) for e in ddl]
    metrics = streamer.metrics.registry.get_sample_value
    assert all(metrics("hospital_sim_ddl_steps_total", {"step": s.name}) == 1 for s in STEPS)


@pytest.mark.seeded(**BILLING)
def test_the_auditor_note_is_filled_while_its_column_exists(streamer_with_ddl, db, tmp_path):
    clock = Clock()
    streamer, _ = streamer_with_ddl(clock)
    clock.now += EVERY
    streamer.ddl.check()  # add_observacao
    assert streamer.run_events(400) == 400
    noted = query(db, "SELECT status::text, count(*) FROM faturamento WHERE observacao_auditoria IS NOT NULL "
                      "GROUP BY 1")  # fmt: skip
    assert dict(noted).keys() == {"glosada"}  # a glosa's reason (no em_recurso label yet)
    assert query(db, "SELECT count(*) FROM faturamento WHERE observacao_auditoria !~ '^\\[[0-9]{4}\\] '") == [(0,)]


@pytest.mark.seeded(**BILLING)
def test_a_restarted_daemon_continues_where_the_catalogue_is(streamer_with_ddl, db, tmp_path):
    clock = Clock()
    first, _ = streamer_with_ddl(clock)
    for _ in range(2):
        clock.now += EVERY
        first.ddl.check()
    first.close()
    again, ledger = streamer_with_ddl(clock)
    assert next_step(again.shape.current).name == "widen_senha"  # read from the catalogue at start
    assert again.shape.current.has(VERSAO_TISS) and again.shape.current.has(OBSERVACAO)
    steps = []
    while not again.ddl.complete:
        clock.now += EVERY
        change = again.ddl.check()
        if change is not None:
            steps.append(dict(change.detail)["step"])
    assert steps == ["widen_senha", "add_em_recurso", "drop_observacao"]
    assert [d["step"] for (d,) in query(db, "SELECT detail FROM hsim_ledger WHERE op = 'ddl' ORDER BY id")] == [
        s.name for s in STEPS
    ]
    # a third start finds the sequence complete and changes nothing
    third, _ = streamer_with_ddl(clock)
    clock.now += EVERY
    assert third.ddl.check() is None and third.ddl.complete
    assert query(db, "SELECT count(*) FROM hsim_ledger WHERE op = 'ddl'") == [(5,)]


@pytest.mark.seeded(**BILLING)
def test_replicas_take_turns_under_the_advisory_lock(streamer_with_ddl, db, cluster, database, tmp_path):
    clock = Clock()
    a, _ = streamer_with_ddl(clock)
    b, _ = streamer_with_ddl(clock)
    other = admin_connect(cluster, database)
    other.autocommit = False
    with other.cursor() as cur:  # a third replica in the middle of a step
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
    clock.now += EVERY
    assert a.ddl.check() is None  # lock_timeout: retried a few seconds later, nothing made
    assert OBSERVACAO not in columns(db)
    other.rollback()
    other.close()
    clock.now += 5
    made_a = a.ddl.check()
    clock.now += EVERY
    made_b = b.ddl.check()  # b's shape is stale, the catalogue is not: it makes the next step
    assert [dict(c.detail)["step"] for c in (made_a, made_b)] == ["add_observacao", "add_versao_tiss"]


@pytest.mark.seeded(**BILLING)
def test_a_column_dropped_under_a_writer_costs_one_event(streamer_with_ddl, db, tmp_path):
    clock = Clock()
    streamer, _ = streamer_with_ddl(clock, STREAM_EXTRA_WEIGHTS="guia_desfecho=1000,guia_abertura=1000")
    clock.now += EVERY
    streamer.ddl.check()  # add_observacao: this writer fills it on glosas
    with db.cursor() as cur:  # another replica's last step
        cur.execute("ALTER TABLE faturamento DROP COLUMN observacao_auditoria")
    done = streamer.run_events(300)
    assert streamer.stats.failures == {"schema_changed": 1} and done == 299
    assert not streamer.shape.current.has(OBSERVACAO) and not streamer.writers[0].fatal


@pytest.mark.seeded(SCHEMA_EXTRAS="faturamento", SEED_SCALE="10")
def test_the_appeal_pick_reads_its_index(streamer_with_ddl, db, tmp_path):
    clock = Clock()
    streamer, _ = streamer_with_ddl(clock)
    while EM_RECURSO not in streamer.shape.current.labels:
        clock.now += EVERY
        streamer.ddl.check()
    query(db, "ANALYZE faturamento; SELECT 1")
    ctx = streamer.writers[0].ctx
    statement = guia_recurso(ctx)
    assert statement is not None
    sql = episode_statements(statement)[0]
    with streamer.maintenance.connection().cursor() as cur:
        cur.execute("EXPLAIN (FORMAT JSON) " + sql, message_params(statement, "w", 1, "e", ctx.floors))
        nodes = plan_nodes(cur.fetchone()[0][0]["Plan"])
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], json.dumps(nodes)[:500]
    assert any(n.get("Index Name") == "idx_faturamento_glosadas" and ">=" in n.get("Index Cond", "") for n in nodes)


@pytest.mark.seeded(**BILLING)
def test_a_column_missing_for_another_reason_still_stops_the_stream(streamer_with_ddl, db):
    streamer, _ = streamer_with_ddl(Clock(), STREAM_EXTRA_WEIGHTS="guia_abertura=1000")
    with db.cursor() as cur:  # not a schema change of the sequence: a table that is not what we made
        cur.execute("ALTER TABLE faturamento DROP COLUMN urgencia")
    streamer.run_events(50)
    # the events in flight were built before the drop: each reads the shape again and finds it
    # moved; an event built with the new shape finds the column still missing, and stops the stream
    assert set(streamer.stats.failures) == {"schema_changed"}
    assert 1 <= streamer.stats.failures["schema_changed"] <= PIPELINE_DEPTH
    assert streamer.stop.is_set() and "urgencia" in str(streamer.writers[0].fatal)


@pytest.mark.seeded(**BILLING)
def test_a_schema_change_in_doubt_is_settled_by_its_transaction_status(
    streamer_with_ddl, db, cluster, database, tmp_path
):
    clock = Clock()
    streamer, ledger = streamer_with_ddl(clock)
    changer = streamer.ddl
    step = STEPS[0]
    other = admin_connect(cluster, database)
    other.autocommit = False
    with other.cursor() as cur:  # stands for the session whose COMMIT reply was lost, not ended yet
        cur.execute("ALTER TABLE faturamento ADD COLUMN observacao_auditoria TEXT")
        cur.execute("SELECT txid_current()")
        txid = cur.fetchone()[0]
    changer._in_doubt = (step, txid)
    clock.now += EVERY
    assert changer.check() is None and changer._in_doubt == (step, txid)  # in progress: looked at again
    other.commit()
    other.close()
    clock.now += 5
    change = changer.check()  # committed: recorded with its txid
    assert change is not None and change.txid == txid and dict(change.detail)["step"] == step.name
    assert streamer.shape.current.has(OBSERVACAO)
    # an aborted one is made again at once
    with db.cursor() as cur:
        cur.execute("BEGIN; SELECT txid_current()")
        aborted = cur.fetchone()[0]
        cur.execute("ROLLBACK")
    changer._in_doubt = (STEPS[1], aborted)
    clock.now += EVERY
    assert dict(changer.check().detail)["step"] == STEPS[1].name
    # an unknown one is not recorded, and the catalogue decides what comes next
    changer._in_doubt = (STEPS[2], txid + 10_000_000)  # 'in the future': e.g. after a failover
    clock.now += EVERY
    assert changer.check() is None and changer._in_doubt is None
    clock.now += EVERY
    assert dict(changer.check().detail)["step"] == STEPS[2].name
    ledger.close()
    assert [e["step"] for e in read_ledger(ledger.path) if e["op"] == "ddl"] == [s.name for s in STEPS[:3]]


@pytest.mark.seeded(**BILLING)
def test_every_faturamento_write_is_the_first_statement_of_its_event(streamer_with_ddl):
    """verify_ddl's ordering rests on this: an event writing faturamento locks it in its one (first)
    statement, before its txid exists; none writes it in a later statement of its message."""
    clock = Clock()
    streamer, _ = streamer_with_ddl(clock, STREAM_EPISODE_WEIGHTS="atendimento=1,admissao=1,alta=1,troca_convenio=1")
    while not streamer.ddl.complete:
        clock.now += EVERY
        streamer.ddl.check()
    ctx = streamer.writers[0].ctx
    built = [(kind, kind.build(ctx)) for kind, _ in streamer.mix.weighted for _ in range(5)]
    assert {kind.op for kind, _ in built} >= {"insert", "update", "delete", "episode"}
    assert any(s is not None and "faturamento" in s.body + s.ctes for _, s in built)
    assert not [kind.name for kind, s in built if s is not None and "faturamento" in " ".join(s.then)]
