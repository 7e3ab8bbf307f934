"""TRUNCATE, logical decoding messages and the partitioned table: each event one transaction and
one round trip, recorded in the ledger (file and LEDGER_TABLE) as it committed."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from daemon.bootstrap import bootstrap_database
from daemon.cdc import doctor
from daemon.cdc.ledger import Ledger, print_summary, read_ledger_table
from daemon.pg import partitions
from daemon.stream.kinds.triagem import COLOURS
from tests.support.db import query
from tests.support.inflight import settled_as_lost

EDGES = {"SCHEMA_EXTRAS": "fila_triagem,sinais_vitais", "SEED_SCALE": "0.1"}
WEIGHTS = "triagem_chegada=6,triagem_passagem_turno=1,sinal_vital=4,mensagem_transacional=2,mensagem_avulsa=2"


@pytest.mark.seeded(**EDGES)
def test_truncate_messages_and_vital_signs_are_events_of_their_own(make_config, make_streamer, bootstrap, db, tmp_path):
    config = make_config(STREAM_OP_WEIGHTS="insert=0.0001", STREAM_EXTRA_WEIGHTS=WEIGHTS, LEDGER_TABLE="hsim_ledger",
                         STREAM_MESSAGE_PREFIX="hsim-test")  # fmt: skip
    bootstrap(config)  # LEDGER_TABLE
    streamer = make_streamer(config, Ledger(tmp_path / "ledger.jsonl"))
    changes = [c for _ in range(120) for c in streamer.run_event()]
    streamer.ledger.close()
    kinds = {(c.table, c.op) for c in changes}
    summary = streamer.stats.summary()
    assert "mensagens: " in summary and "fila_triagem: " in summary
    assert ", truncate " in summary and ", message " in summary
    assert {
        ("fila_triagem", "insert"),
        ("fila_triagem", "truncate"),
        ("sinais_vitais", "insert"),
        ("", "message"),
    } <= kinds
    # The queue holds exactly the arrivals since the last handover.
    last_truncate = max(i for i, c in enumerate(changes) if c.op == "truncate")
    queued = sorted(c.pk for c in changes[last_truncate:] if c.table == "fila_triagem" and c.op == "insert")
    rows = query(db, "SELECT id, classificacao, queixa FROM fila_triagem ORDER BY id")
    assert [r[0] for r in rows] == queued
    assert all(colour in COLOURS and queixa for _, colour, queixa in rows)
    truncate = changes[last_truncate]
    assert (truncate.pk, truncate.detail) == (0, ())
    # Messages: a prefix, a JSON content, transactional or not; each in its own transaction.
    messages = [c for c in changes if c.op == "message"]
    assert {dict(m.detail)["transactional"] for m in messages} == {True, False}
    for m in messages:
        detail = dict(m.detail)
        assert detail["prefix"] == "hsim-test" and json.loads(str(detail["content"]))["tipo"] in (
            "ocupacao_leitos",
            "auditoria",
        )
    # A vital sign lands in this month's partition, for a patient still admitted.
    vital = next(c for c in changes if c.table == "sinais_vitais")
    [(partition, open_stay, temperature)] = query(
        db, "SELECT s.tableoid::regclass::text, i.data_saida IS NULL, s.temperatura FROM sinais_vitais s "
        "JOIN internacoes i ON i.id = s.internacao_id WHERE s.id = %s", (vital.pk,))  # fmt: skip
    assert partition == partitions.partition_name(partitions.month_of(datetime.now(UTC))) and open_stay
    assert Decimal("34.5") <= temperature <= Decimal("41.5")
    # LEDGER_TABLE has each change with its detail, in the change's own transaction.
    with db.cursor() as cur:
        table = read_ledger_table(cur, "hsim_ledger")
    assert [(e["table"], e["op"], e["pk"], e["txid"]) for e in table] == [
        (c.table, c.op, c.pk, c.txid) for c in changes
    ]
    by_txid = {e["txid"]: e for e in table}
    for m in messages:
        assert {k: by_txid[m.txid][k] for k in ("prefix", "content", "transactional")} == dict(m.detail)
    out = io.StringIO()
    assert print_summary("file", table, out) == 0
    truncates, sent = sum(c.op == "truncate" for c in changes), len(messages)
    assert f"changes of no row: message {sent}, truncate fila_triagem {truncates}" in out.getvalue()
    assert "\n          " not in out.getvalue()  # no row of zeros for the messages' empty table name
    file_lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [{k: e.get(k) for k in ("table", "op", "prefix", "content")} for e in file_lines] == [
        {k: e.get(k) for k in ("table", "op", "prefix", "content")} for e in table
    ]


@pytest.mark.seeded(**EDGES)
def test_seeded_vital_signs_and_partitions(db):
    counts = query(db, "SELECT count(*), count(DISTINCT internacao_id) FROM sinais_vitais")[0]
    stays = query(db, "SELECT count(*) FROM internacoes")[0][0]
    assert counts[1] == stays and 2 * stays <= counts[0] <= 6 * stays  # a few readings per stay
    outside = query(
        db, "SELECT count(*) FROM sinais_vitais s JOIN internacoes i ON i.id = s.internacao_id "
        "WHERE s.medido_em < i.data_entrada OR s.medido_em > coalesce(i.data_saida, now())")[0][0]  # fmt: skip
    assert outside == 0
    ranges = query(db, "SELECT min(pressao_sistolica), max(pressao_sistolica), min(saturacao), max(saturacao), "
                       "bool_and(pressao_diastolica < pressao_sistolica) FROM sinais_vitais")[0]  # fmt: skip
    assert 70 <= ranges[0] < 110 < 150 < ranges[1] <= 220 and 75 <= ranges[2] < 95 and ranges[3] <= 100 and ranges[4]
    # Every month from the first stay to next month has its partition, bounded in UTC.
    names = {r[0] for r in query(db, "SELECT relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                     "WHERE inhparent = 'sinais_vitais'::regclass")}  # fmt: skip
    first = query(db, "SELECT min(data_entrada) FROM internacoes")[0][0]
    now = datetime.now(UTC)
    assert names == {partitions.partition_name(m) for m in partitions.months(first, now) + partitions.ahead(now)}


@pytest.mark.seeded(**EDGES)
def test_next_partition_is_created_ahead_and_joins_the_publication(make_config, db, pg_connect):
    config = make_config(CDC_PUBLICATION="edges_pub", CDC_REPLICA_IDENTITY="full")
    conn = pg_connect(config)
    bootstrap_database(conn, config.cdc, config.schema.extras)
    assert query(db, "SELECT pubviaroot FROM pg_publication WHERE pubname = 'edges_pub'") == [(False,)]
    conn.autocommit = True
    clock = [0.0]
    moments = [datetime(2031, 1, 31, 23, 59, tzinfo=UTC)]
    keeper = partitions.PartitionKeeper(lambda: conn, every=300, clock=lambda: clock[0], now=lambda: moments[0])
    assert keeper.check() == ["sinais_vitais_2031_01", "sinais_vitais_2031_02"]
    assert keeper.check() == []  # nothing is due: not even a look at the catalogue
    moments[0] = datetime(2031, 2, 1, 0, 0, 1, tzinfo=UTC)  # the month changes: looked at once
    assert keeper.check() == ["sinais_vitais_2031_03"]
    assert conn.autocommit  # the writer's connection is handed back as it was
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname = 'edges_pub'")}
    assert {"sinais_vitais_2031_02", "sinais_vitais_2031_03"} <= published  # partitions join by themselves
    identity = query(db, "SELECT relreplident FROM pg_class WHERE relname = 'sinais_vitais_2031_03'")
    assert identity == [("f",)]  # the parent's REPLICA IDENTITY FULL followed
    bounds = query(db, "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'sinais_vitais_2031_03'")
    assert "2031-03-01 00:00:00+00" in bounds[0][0] and "2031-04-01 00:00:00+00" in bounds[0][0]
    # CDC_PUBLISH_VIA_PARTITION_ROOT completes an existing publication; the parent is then published.
    config = make_config(CDC_PUBLICATION="edges_pub", CDC_PUBLISH_VIA_PARTITION_ROOT="true")
    bootstrap_database(pg_connect(config), config.cdc, config.schema.extras)
    assert query(db, "SELECT pubviaroot FROM pg_publication WHERE pubname = 'edges_pub'") == [(True,)]
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname = 'edges_pub'")}
    assert "sinais_vitais" in published and not any(t.startswith("sinais_vitais_") for t in published)
    assert partitions.months(date(2031, 11, 5), date(2032, 1, 1)) == [
        date(2031, 11, 1),
        date(2031, 12, 1),
        date(2032, 1, 1),
    ]


def test_doctor_says_what_the_edge_cases_need(make_config, bootstrap, db):
    weights = "triagem_passagem_turno=0.2,mensagem_avulsa=1"
    config = make_config(SCHEMA_EXTRAS="fila_triagem,sinais_vitais", CDC_PUBLICATION="edges_pub",
                         STREAM_EXTRA_WEIGHTS=weights, STREAM_MESSAGE_PREFIX="nir")  # fmt: skip
    bootstrap(config)
    out = io.StringIO()
    doctor.doctor(config, out)
    text = out.getvalue()
    assert "WARN  publish_via_partition_root" in text and "sinais_vitais_YYYY_MM" in text
    assert "PASS  sinais_vitais partitions" in text
    assert "WARN  truncates (fila_triagem)" in text and "skipped.operations=none" in text
    assert "WARN  logical decoding messages" in text and "<topic.prefix>.message" in text and "'nir'" in text
    # The publication disagrees with the setting; next month's partition is gone.
    query(db, "ALTER PUBLICATION edges_pub SET (publish_via_partition_root = true); SELECT 1")
    month = partitions.ahead(datetime.now(UTC))[1]
    query(db, f"DROP TABLE {partitions.partition_name(month)}; SELECT 1")
    out = io.StringIO()
    doctor.doctor(config, out)
    text = out.getvalue()
    assert "edges_pub has true, CDC_PUBLISH_VIA_PARTITION_ROOT says false" in text
    assert "WARN  sinais_vitais partitions" in text and partitions.partition_name(month) in text
    # Nothing of this without the extras and message weights.
    out = io.StringIO()
    doctor.doctor(make_config(SCHEMA_EXTRAS="", STREAM_EXTRA_WEIGHTS="sinal_vital=1"), out)
    assert "publish_via_partition_root" not in out.getvalue() and "truncates" not in out.getvalue()


@pytest.mark.seeded(**EDGES)
def test_a_truncate_or_message_in_doubt_is_settled_by_the_writer_row(make_config, make_streamer):
    streamer = make_streamer(make_config(STREAM_EXTRA_WEIGHTS=WEIGHTS))
    writer = streamer.writers[0]
    kinds = [k for k, _ in streamer.mix.weighted if k.op in ("truncate", "message")]
    assert len(kinds) == 3
    for kind in kinds:
        flight = writer.send(kind)
        changes = writer.receive().changes
        assert flight is not None and changes is not None
        settled = settled_as_lost(writer, flight)
        assert settled == changes and changes[0].pk == 0 and changes[0].detail == flight.statement.detail
