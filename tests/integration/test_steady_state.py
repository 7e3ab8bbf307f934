"""Steady state: stream-born rows start their lifecycle, the default weights balance every open
lifecycle, picks read indexes made for them, and an event in doubt is settled by its writer's row."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from loguru import logger

from daemon.data import brazil
from daemon.data.rows import HospitalData, Pools
from daemon.pg import sqlfiles
from daemon.stream.backlog import BACKLOGS, GROWING, unbalanced
from daemon.stream.flights import PIPELINE_DEPTH
from daemon.stream.idpool import IdPool
from daemon.stream.kinds.base import EventContext, EventKind, Floors, Statement
from daemon.stream.kinds.inserts import INSERTS
from daemon.stream.message import compose, episode_statements, message_params
from daemon.stream.mix import EventMix
from tests.support.db import query, wait_until

EVENTS = 3000


def backlog_in_db(db) -> dict[str, int]:
    return dict(zip(BACKLOGS, query(db, sqlfiles.load("backlog_counts"))[0]))


def test_default_weights_balance_every_open_lifecycle(make_config):
    mix = EventMix(make_config().stream)
    assert unbalanced(mix.kind_shares()) == {}
    flows: Counter[str] = Counter()
    for kind, share in mix.kind_shares():
        for name, flow in kind.flows.items():
            flows[name] += share * flow
    assert set(flows) == set(BACKLOGS)
    for name, net in flows.items():  # inflow == outflow, exactly; closed rows may only grow
        assert (net > 0) if name in GROWING else abs(net) < 1e-9, (name, net)


def test_weights_that_drain_a_pool_are_reported_once_at_startup(make_config, make_streamer, seeded_database):
    # Every update a discharge: internados drain; without status changes no consulta is ever
    # cancelled and without signatures no exam signed, so both retentions drain their pools; the
    # other pools only fill (no warning).
    config = make_config(STREAM_UPDATE_WEIGHTS="internacao_alta=1")
    lines: list[dict] = []
    handler = logger.add(lambda m: lines.append(m.record["extra"]), level="WARNING")
    try:
        make_streamer(config)
    finally:
        logger.remove(handler)
    drained = [e["backlog"] for e in lines if e.get("event") == "stream.backlog_unbalanced"]
    assert sorted(drained) == ["assinados", "canceladas", "internados"]


def test_rows_born_in_the_stream_start_their_lifecycle():
    ids = IdPool()
    for table in ("pacientes", "medicos", "convenios"):
        ids.add(table, 1)
    rng = random.Random(7)
    ctx = EventContext(HospitalData(rng, Pools.build(7), anchor=datetime.now(UTC)), ids, rng)
    kinds = {k.name: k for k in INSERTS}
    for _ in range(200):
        assert kinds["consultas"].build(ctx).params["status"] == "agendada"
        assert kinds["exames"].build(ctx).params["resultado"] is None
        assert kinds["internacoes"].build(ctx).params["data_saida"] is None
    ctx.lifecycle_start = False  # an insert-only mix: the predecessor's historical distributions
    statuses = Counter(kinds["consultas"].build(ctx).params["status"] for _ in range(400))
    assert set(statuses) == {"agendada", "realizada", "cancelada", "faltou"}


@pytest.mark.seeded(SEED_SCALE="0.1")
def test_a_long_run_keeps_every_pool_and_the_configured_mix(make_config, make_streamer, db):
    streamer = make_streamer(make_config())
    start = backlog_in_db(db)
    assert start == streamer.backlog.start
    committed = streamer.run_events(EVENTS)
    end = backlog_in_db(db)
    assert end == streamer.backlog.size  # the in-memory count follows the database exactly (one writer)
    for name in BACKLOGS:
        assert end[name] >= max(1, start[name] // 4), (name, start[name], end[name])
    fallbacks = sum(streamer.stats.fallbacks.values()) + streamer.stats.failures["nothing_to_do"]
    assert fallbacks < 0.02 * EVENTS
    realized = streamer.stats.kinds
    assert sum(realized.values()) == committed >= EVENTS - fallbacks
    for kind, share in streamer.mix.kind_shares():
        assert abs(realized[kind.name] / committed - share) < 0.03, (kind.name, realized[kind.name], share)


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_cpf_function_matches_the_seed(make_config, make_streamer, db):
    ids = [0, 1, 2, 9, 10, 999, 123_456, 10**6, 10**9 - 1, *random.Random(3).sample(range(10**9), 200)]
    rows = query(db, "SELECT i, hospital_sim_cpf(i) FROM unnest(%s::bigint[]) AS i", (ids,))
    assert {i: cpf for i, cpf in rows} == {i: brazil.cpf_for_index(i) for i in ids}
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="insert=1", STREAM_INSERT_WEIGHTS="pacientes=1"))
    changes = [c for _ in range(20) for c in streamer.run_event()]
    got = dict(query(db, "SELECT id, cpf FROM pacientes WHERE id = ANY(%s)", ([c.pk for c in changes if c],)))
    assert len(got) == 20 and got == {pk: brazil.cpf_for_index(pk) for pk in got}


def buffers(db, sql: str, params: tuple | dict = ()) -> int:
    """Shared buffers ``sql`` reads (EXPLAIN ANALYZE: it runs)."""
    with db.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        plan = cur.fetchone()[0][0]["Plan"]
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


def event_buffers(db, streamer, name: str) -> dict[str, int]:
    """Shared buffers an event of kind ``name`` reads as the writer sends it, with the writer's
    floors ("floor") and with none ("start"); each run rolled back."""
    ctx = streamer.writers[0].ctx
    statement = next(k for k, _ in streamer.mix.kind_shares() if k.name == name).build(ctx)
    event = {}
    for label, floors in (("floor", ctx.floors), ("start", Floors())):
        db.autocommit = False
        try:
            event[label] = buffers(db, compose(statement), message_params(statement, "w", 1, "e", floors))
        finally:
            db.rollback()
            db.autocommit = True
    return event


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_a_pick_searches_its_state_from_the_floor_its_last_pick_saw(make_config, make_streamer, db):
    """Rows leave 'agendada' all over the key, but enter it only at its end (new consultas): between
    two vacuums the partial index's left end is a run of dead entries, which the smallest id would
    be searched through on every pick. The writer passes the floor its last pick saw instead."""
    query(db, "ALTER TABLE consultas SET (autovacuum_enabled = off); SELECT 1")
    streamer = make_streamer(
        make_config(
            STREAM_OP_WEIGHTS="insert=1,update=1",
            STREAM_INSERT_WEIGHTS="consultas=1",
            STREAM_UPDATE_WEIGHTS="consulta_status=1",
        )
    )
    ctx = streamer.writers[0].ctx
    lowest = "SELECT min(id) FROM consultas WHERE status = 'agendada'"
    first = query(db, lowest)[0][0]
    # 40,000 consultas scheduled (new ids, at the index's end), then all but the newest 5,000 of the
    # scheduled ones leaves the state: entries of rows no longer in it, over dozens of index pages.
    query(
        db,
        "INSERT INTO consultas (paciente_id, medico_id, data, motivo, status) "
        "SELECT (SELECT min(id) FROM pacientes), (SELECT min(id) FROM medicos), now() + interval '1 day', "
        "'Rotina', 'agendada' FROM generate_series(1, 40000) RETURNING 1",
    )
    query(
        db,
        "UPDATE consultas SET status = 'faltou' WHERE status = 'agendada' "
        "AND id < (SELECT max(id) - 5000 FROM consultas) RETURNING 1",
    )
    assert streamer.run_events(300) == 300
    floor, now_lowest = int(ctx.floors.seen["agendadas"]), query(db, lowest)[0][0]
    assert first < floor <= now_lowest  # it moved on with the rows, and hides none of them
    bound = "SELECT min(id), max(id) FROM consultas WHERE status = 'agendada' AND id >= %s"
    from_floor, from_start = buffers(db, bound, (floor,)), buffers(db, bound, (0,))
    assert from_floor * 4 < from_start, (from_floor, from_start)
    # The event's own statement, as the writer sends it, with its floor and without.
    event = event_buffers(db, streamer, "consulta_status")
    assert event["floor"] + from_start - from_floor <= event["start"], event
    # A floor above every row in the state (it cannot happen through the stream: rows enter with
    # fresh ids) costs one "nothing to do" and is dropped: the next pick searches from the start.
    ctx.floors.seen["agendadas"] = str(10**12)
    kind = next(k for k, _ in streamer.mix.kind_shares() if k.name == "consulta_status")
    assert streamer.writers[0].apply(kind) is None
    assert "agendadas" not in ctx.floors.seen
    assert streamer.writers[0].apply(kind) is not None and int(ctx.floors.seen["agendadas"]) >= now_lowest


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_the_oldest_first_pick_searches_from_the_row_its_last_pick_deleted(make_config, make_streamer, db):
    """exame_retencao deletes the exam signed longest ago (ties: the smallest id): between two
    vacuums the signed-exams index starts with the entries of every exam deleted so far, which
    the oldest would be searched through on every pick. The writer's floor is the last deleted
    exam's signing time and id instead: the id matters when many rows share a time, as a seed's
    rows share one updated_at."""
    query(db, "ALTER TABLE exames SET (autovacuum_enabled = off); SELECT 1")
    # 40,000 exams signed at one moment a year ago; the 35,000 first deleted, as retention would.
    query(
        db,
        "INSERT INTO exames (paciente_id, tipo_exame, data, resultado, laudo_assinado_em) "
        "SELECT (SELECT min(id) FROM pacientes), 'Hemograma', now() - interval '400 days', 'Normal', "
        "date_trunc('second', now()) - interval '365 days' FROM generate_series(1, 40000) RETURNING 1",
    )
    query(
        db,
        "DELETE FROM exames WHERE id < (SELECT min(id) + 35000 FROM exames WHERE laudo_assinado_em IS NOT NULL) "
        "AND laudo_assinado_em IS NOT NULL RETURNING 1",
    )
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="delete=1", STREAM_DELETE_WEIGHTS="exame_retencao=1"))
    ctx, writer = streamer.writers[0].ctx, streamer.writers[0]
    signed = "FROM exames WHERE laudo_assinado_em IS NOT NULL"
    assert streamer.run_events(300) == 300

    def floor() -> tuple[datetime, int]:
        when, pk = ctx.floors.seen["assinados"].split(" ")
        # ISO 8601 in UTC: the same instant whatever DateStyle and TimeZone the session has
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", when)
        return datetime.fromisoformat(when), int(pk)

    when, pk = floor()
    assert (when, pk) <= tuple(query(db, f"SELECT laudo_assinado_em, id {signed} ORDER BY 1, 2 LIMIT 1")[0])
    assert when == query(db, f"SELECT min(laudo_assinado_em) {signed}")[0][0]  # inside the one-moment group
    with db.cursor() as cur:
        cur.execute("SET DateStyle = 'SQL, DMY'; SET TimeZone = 'America/Sao_Paulo'")
        cur.execute("SELECT split_part(%s, ' ', 1)::timestamptz = %s", (ctx.floors.seen["assinados"], when))
        assert cur.fetchone()[0]
        cur.execute("RESET DateStyle; RESET TimeZone")
    pick = f"SELECT id {signed} AND (laudo_assinado_em, id) >= (%s, %s) ORDER BY laudo_assinado_em, id LIMIT 1"
    from_floor, from_start = buffers(db, pick, (when, pk)), buffers(db, pick, ("-infinity", 0))
    assert from_floor * 4 < from_start, (from_floor, from_start)
    # The event's own statement, as the writer sends it, with its floor and without.
    event = event_buffers(db, streamer, "exame_retencao")
    assert event["floor"] + from_start - from_floor <= event["start"], event
    # The floor moves on with the deletions: the next pick deletes the oldest exam left.
    (oldest,) = query(db, f"SELECT id {signed} ORDER BY laudo_assinado_em, id LIMIT 1")[0]
    kind = next(k for k, _ in streamer.mix.kind_shares() if k.name == "exame_retencao")
    (change,), _ = writer.apply(kind)
    assert change.pk == oldest and floor() == (when, oldest)
    # Nothing old enough (a longer retention): the floor stays, rows only enter above it.
    ctx.retention_days = 100_000
    assert writer.apply(kind) is None
    assert floor() == (when, oldest)


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_events_in_flight_at_a_lost_connection_are_settled_by_the_writer_rows(make_config, make_streamer, db):
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="insert=1", STREAM_INSERT_WEIGHTS="exames=1"))
    writer = streamer.writers[0]
    kind = next(k for k in INSERTS if k.name == "exames")
    orphan = Statement(
        "exames",
        "insert",
        "INSERT INTO exames (paciente_id, tipo_exame, data) VALUES (-1, 'PCR', now()) RETURNING id",
        {},
    )
    bad = EventKind("orphan_exam", "exames", "insert", (), lambda ctx: orphan)  # a foreign key violation
    flights = [writer.send(kind), writer.send(bad), writer.send(kind)]
    assert writer.in_flight == PIPELINE_DEPTH and not writer.has_room
    seqs = [f.seq for f in flights]
    last = ("SELECT count(*) FROM hospital_sim_writers WHERE writer = %s AND seq = %s", (writer.slot(seqs[2]), seqs[2]))
    wait_until(lambda: query(db, *last)[0][0] == 1, what="the third event committed")
    # The replies are lost with the connection: the writer's rows say which events committed.
    writer._settle_lost(ConnectionError("server closed the connection unexpectedly"))
    landed = [writer.receive() for _ in flights]
    assert [x.flight for x in landed] == flights and writer.in_flight == 0
    assert [x.failure for x in landed] == [None, "connection", None]  # the orphan rolled back, its row untouched
    committed = {c.pk: c.txid for x in landed if x.changes for c in x.changes}
    rows = query(db, "SELECT id, xmin::text::bigint FROM exames WHERE id = ANY(%s)", (list(committed),))
    assert dict(rows) == committed  # the ids and txids the rows hold (a young cluster: txid = xmin)
    slots = query(db, "SELECT writer, seq FROM hospital_sim_writers WHERE writer LIKE %s", (writer.key + ".%",))
    assert sorted(seq for _, seq in slots) == [seqs[0], seqs[2]]  # the orphan's slot never written
    assert streamer.run_event()  # the stream goes on, on the new session


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_a_session_the_server_still_runs_is_ended_before_the_writer_rows_are_read(make_config, make_streamer, db):
    """The connection lost on the client's side only (a network cut): the old backend still holds
    the events in flight and would commit them later. The writer ends it first, so the events it
    reports as not committed stay uncommitted."""
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="insert=1", STREAM_INSERT_WEIGHTS="exames=1"))
    writer = streamer.writers[0]
    kind = next(k for k in INSERTS if k.name == "exames")
    assert streamer.run_events(3) == 3  # prepared: the events below wait on the table lock, not on a Parse
    before = query(db, "SELECT count(*) FROM exames")[0][0]
    old_pid = writer.session().backend_pid
    db.autocommit = False
    try:
        with db.cursor() as cur:
            cur.execute("LOCK TABLE exames IN ACCESS EXCLUSIVE MODE")
        flights = [writer.send(kind) for _ in range(2)]
        wait_until(
            lambda: query(db, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (old_pid,)) == [("Lock",)],
            what="the events waiting on the lock",
        )
        writer._settle_lost(ConnectionError("could not receive data from server: Connection timed out"))
    finally:
        db.rollback()
        db.autocommit = True
    landed = [writer.receive() for _ in flights]
    assert [x.failure for x in landed] == ["connection", "connection"]
    assert query(db, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (old_pid,))[0][0] == 0
    time.sleep(0.5)
    assert query(db, "SELECT count(*) FROM exames")[0][0] == before  # nothing committed after all
    assert streamer.run_event()


def plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += plan_nodes(child)
    return nodes


PICK_INDEX = {
    "consulta_status": "idx_consultas_agendadas",
    "exame_resultado": "idx_exames_pendentes",
    "internacao_alta": "idx_internacoes_abertas",
    "convenio_renovacao": "pacientes_convenios_pkey",
    "convenio_cancelamento": "pacientes_convenios_pkey",
    "consulta_retencao": "idx_consultas_cancelamento",
    "laudo_assinatura": "idx_exames_a_assinar",
    "exame_retencao": "idx_exames_assinatura",
    "atendimento": "idx_consultas_agendadas",
    "admissao": "idx_consultas_agendadas",
    "alta": "idx_internacoes_abertas",
}


@pytest.mark.seeded(SEED_SCALE="100")
def test_every_pick_reads_an_index_at_100x_the_data(make_config, make_streamer, db):
    query(db, "ANALYZE; SELECT 1")
    streamer = make_streamer(make_config())
    ctx, conn = streamer.writers[0].ctx, streamer.maintenance.connection()
    assert query(db, "SELECT count(*) FROM consultas")[0][0] == 400_000
    for kind, _ in streamer.mix.kind_shares():
        statement = kind.build(ctx)
        assert statement is not None
        with conn.cursor() as cur:
            sql = episode_statements(statement)[0] if statement.op == "episode" else compose(statement)
            cur.execute("EXPLAIN (FORMAT JSON) " + sql, message_params(statement, "w", 1, "e", ctx.floors))
            nodes = plan_nodes(cur.fetchone()[0][0]["Plan"])
        seq_scans = {n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"}
        assert not seq_scans, (kind.name, seq_scans)  # enrolments too: a convênio is found from a random point
        if kind.name in PICK_INDEX:
            # The pick starts inside the index (an Index Cond on its key), not with a filter after a scan.
            conds = [n.get("Index Cond", "") for n in nodes if n.get("Index Name") == PICK_INDEX[kind.name]]
            assert any(">=" in c or "<=" in c for c in conds), (kind.name, conds)


def test_opt_in_kinds_leave_an_insert_only_mix_insert_only(make_config):
    """insert=1 is the predecessor's mix whatever STREAM_EXTRA_WEIGHTS adds: rows of the seven
    tables keep the predecessor's distributions (no lifecycle start)."""
    extra = "mensagem_avulsa=1,triagem_passagem_turno=1"
    config = make_config(STREAM_OP_WEIGHTS="insert=1", SCHEMA_EXTRAS="fila_triagem", STREAM_EXTRA_WEIGHTS=extra)
    mix = EventMix(config.stream)
    assert {kind.name for kind, _ in mix.weighted} >= {"mensagem_avulsa", "triagem_passagem_turno"}
    assert mix.inserts_only
    assert not EventMix(make_config(STREAM_OP_WEIGHTS="insert=1,update=1").stream).inserts_only
