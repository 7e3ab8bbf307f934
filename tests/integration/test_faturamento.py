"""SCHEMA_EXTRAS=faturamento: the seed bills what it seeded (every hard type populated), the three
guia kinds keep their pools bounded, and their picks read the partial indexes made for them."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from daemon.data.guias import TISS_XML, Guias
from daemon.pg import sqlfiles
from daemon.stream.backlog import EXTRA_BACKLOGS, unbalanced
from daemon.stream.kinds.faturamento import FATURAMENTO
from daemon.stream.message import compose, message_params
from daemon.stream.mix import EventMix
from tests.integration.test_steady_state import plan_nodes
from tests.support.db import query

BILLING = {"SCHEMA_EXTRAS": "faturamento", "SEED_SCALE": "0.2"}
POOLS = EXTRA_BACKLOGS["faturamento"]
KINDS = {kind.name for kind in FATURAMENTO}


def pools_in_db(db) -> dict[str, int]:
    return dict(zip(POOLS, query(db, sqlfiles.load("backlog_counts_faturamento"))[0]))


@pytest.mark.seeded(**BILLING)
def test_the_seed_bills_every_realised_consulta_and_internacao(db):
    realised, internacoes = query(
        db, "SELECT (SELECT count(*) FROM consultas WHERE status = 'realizada'), (SELECT count(*) FROM internacoes)"
    )[0]
    by_origin = query(db, "SELECT count(consulta_id), count(internacao_id), count(DISTINCT consulta_id), "
                          "count(DISTINCT internacao_id) FROM faturamento")[0]  # fmt: skip
    assert by_origin == (realised, internacoes, realised, internacoes) and realised > 100
    total = realised + internacoes
    status = dict(query(db, "SELECT status::text, count(*) FROM faturamento GROUP BY 1"))
    assert status["paga"] > total / 2 and status["glosada"] > total / 20  # history: mostly paid
    assert 0 < status["faturada"] < total / 5 and 0 < status["aberta"] < total / 2
    # open guias: recent care or a patient still admitted
    assert query(db, "SELECT count(*) FROM faturamento f LEFT JOIN consultas c ON c.id = f.consulta_id "
                     "LEFT JOIN internacoes i ON i.id = f.internacao_id WHERE f.status = 'aberta' "
                     "AND coalesce(c.data, i.data_saida) < now() - interval '46 days'") == [(0,)]  # fmt: skip
    tipos = dict(query(db, "SELECT tipo_guia, count(*) FROM faturamento GROUP BY 1"))
    assert tipos["internacao"] == internacoes and tipos["consulta"] > tipos["sp_sadt"] > 0
    # every hard type, with its special values
    (nan, finite, infinite, money, interval, timetz, senha, hashes, glosa, arrays, urgent), = query(db, """
        SELECT count(*) FILTER (WHERE fator_reajuste = 'NaN'), count(*) FILTER (WHERE fator_reajuste <> 'NaN'),
               count(*) FILTER (WHERE validade_fim = 'infinity'), count(coparticipacao), count(tempo_atendimento),
               count(*) FILTER (WHERE hora_autorizacao::text LIKE '%-03'),
               count(senha_autorizacao), count(*) FILTER (WHERE octet_length(hash_xml) = 32),
               count(valor_glosado), count(*) FILTER (WHERE cardinality(codigos_tuss) > 1),
               count(*) FILTER (WHERE urgencia)
        FROM faturamento""")  # fmt: skip
    billed = total - status["aberta"]
    assert 0.05 * billed < nan < 0.16 * billed and finite + nan == billed == money == hashes
    assert 0.09 * total < infinite < 0.22 * total
    assert interval > 0.6 * total and timetz == senha > 0.3 * total and glosa == status["glosada"]
    assert arrays > 0 and 0 < urgent < total / 2
    # valor_total is the sum of the items; TUSS codes are 8 digits and match the items
    assert query(db, """
        SELECT count(*) FROM faturamento f WHERE valor_total <> (SELECT sum((e->>'valor')::numeric)
            FROM jsonb_array_elements(f.itens) e)
           OR NOT codigos_tuss @> ARRAY(SELECT e->>'codigo' FROM jsonb_array_elements(f.itens) e)
           OR EXISTS (SELECT 1 FROM unnest(codigos_tuss) c WHERE c !~ '^[0-9]{8}$')
           OR valor_glosado > valor_total OR validade_fim < validade_inicio""") == [(0,)]  # fmt: skip
    # hash_xml is the SHA-256 of the guia's TISS XML, the text the stream hashes in SQL
    assert query(db, "SELECT count(*) FROM faturamento f WHERE hash_xml IS NOT NULL AND hash_xml <> sha256(convert_to("
                     "format(%s, numero_guia, tipo_guia, coalesce(senha_autorizacao, ''), valor_total), 'UTF8'))",
                 (TISS_XML,)) == [(0,)]  # fmt: skip
    # the convênio is the patient's first card, or SUS without one
    assert query(db, """
        SELECT count(*) FROM faturamento f
        LEFT JOIN consultas c ON c.id = f.consulta_id LEFT JOIN internacoes i ON i.id = f.internacao_id
        WHERE f.convenio_id <> coalesce(
            (SELECT pc.convenio_id FROM pacientes_convenios pc
             WHERE pc.paciente_id = coalesce(c.paciente_id, i.paciente_id) ORDER BY pc.id LIMIT 1),
            (SELECT id FROM convenios WHERE nome = 'SUS'))""") == [(0,)]  # fmt: skip
    assert query(db, "SELECT last_value >= (SELECT max(id) FROM faturamento) FROM faturamento_id_seq") == [(True,)]


def test_guias_are_reproducible_from_the_random_seed():
    when = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)

    def make(seed: int) -> list[dict[str, object]]:
        guias = Guias(random.Random(seed))
        return [
            guias.fechada(guias.aberta(t, when, when), "glosada", False) for t in ("consulta", "sp_sadt", "internacao")
        ]

    assert make(5) == make(5) != make(6)


@pytest.mark.seeded(**BILLING)
def test_streaming_keeps_the_guia_pools_bounded_and_runs_every_kind(make_config, make_streamer, db):
    streamer = make_streamer(make_config())
    start = pools_in_db(db)
    assert {k: streamer.backlog.start[k] for k in POOLS} == start and min(start.values()) > 0
    before = dict(query(db, "SELECT status::text, count(*) FROM faturamento GROUP BY 1"))
    committed = streamer.run_events(3000)
    end = pools_in_db(db)
    assert {k: streamer.backlog.size[k] for k in POOLS} == end  # the in-memory count follows the database
    for name in POOLS:
        assert start[name] // 4 <= end[name] <= 2 * start[name] + 40, (name, start[name], end[name])
    realized = streamer.stats.kinds
    assert all(realized[name] > 40 for name in KINDS), realized
    shares = {kind.name: share for kind, share in streamer.mix.kind_shares()}
    for name in KINDS:
        assert abs(realized[name] / committed - shares[name]) < 0.03, (name, realized[name], shares[name])
    fallbacks = sum(streamer.stats.fallbacks.get(name, 0) for name in KINDS)
    assert fallbacks < 0.02 * committed
    # what the stream wrote: one guia per guia_abertura, settled ones per guia_desfecho
    after = dict(query(db, "SELECT status::text, count(*) FROM faturamento GROUP BY 1"))
    assert sum(after.values()) - sum(before.values()) == realized["guia_abertura"]
    settled = after["paga"] + after["glosada"] - before["paga"] - before["glosada"]
    assert settled == realized["guia_desfecho"]
    assert query(db, "SELECT count(*) FROM faturamento f JOIN consultas c ON c.id = f.consulta_id "
                     "WHERE c.status <> 'realizada'") == [(0,)]  # fmt: skip
    assert query(db, "SELECT count(consulta_id) = count(DISTINCT consulta_id) FROM faturamento") == [(True,)]
    assert query(db, "SELECT count(*) FROM faturamento WHERE status IN ('faturada', 'paga', 'glosada') AND "
                     "(hash_xml IS NULL OR coparticipacao IS NULL OR fator_reajuste IS NULL)") == [(0,)]  # fmt: skip
    assert query(db, "SELECT count(*) FROM faturamento WHERE (status = 'glosada') <> (valor_glosado IS NOT NULL)") == [
        (0,)
    ]


def test_default_traffic_has_no_faturamento_kinds(make_config):
    assert not KINDS & {kind.name for kind, _ in EventMix(make_config().stream).weighted}
    assert KINDS <= {kind.name for kind, _ in EventMix(make_config(SCHEMA_EXTRAS="faturamento").stream).weighted}


def test_default_weights_balance_the_guia_pools(make_config):
    mix = EventMix(make_config(SCHEMA_EXTRAS="faturamento").stream)
    assert unbalanced(mix.kind_shares()) == {}
    flows: Counter[str] = Counter()
    for kind, share in mix.kind_shares():
        for name, flow in kind.flows.items():
            flows[name] += share * flow
    assert all(abs(flows[name]) < 1e-9 for name in POOLS) and set(POOLS) <= set(flows)
    # Too much billing is reported like any pool drained (stream.backlog_unbalanced).
    heavy = EventMix(make_config(SCHEMA_EXTRAS="faturamento", STREAM_EXTRA_WEIGHTS="guia_faturamento=9").stream)
    assert set(unbalanced(heavy.kind_shares())) == {"guias_abertas"}


PICK_INDEX = {
    "guia_faturamento": "idx_faturamento_abertas",
    "guia_desfecho": "idx_faturamento_faturadas",
}


@pytest.mark.seeded(SCHEMA_EXTRAS="faturamento", SEED_SCALE="10")
def test_guia_picks_read_indexes(make_config, make_streamer, db):
    query(db, "ANALYZE; SELECT 1")
    streamer = make_streamer(make_config(SCHEMA_EXTRAS="faturamento"))
    ctx, conn = streamer.writers[0].ctx, streamer.maintenance.connection()
    assert query(db, "SELECT count(*) > 20000 FROM faturamento") == [(True,)]
    seen: set[str] = set()
    for kind in FATURAMENTO:
        for _ in range(12):  # guia_abertura: both origins (consulta, internação)
            statement = kind.build(ctx)
            assert statement is not None
            with conn.cursor() as cur:
                cur.execute(
                    "EXPLAIN (FORMAT JSON) " + compose(statement), message_params(statement, "w", 1, "e", ctx.floors)
                )
                nodes = plan_nodes(cur.fetchone()[0][0]["Plan"])
            assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] != "convenios"], kind
            indexes = {n.get("Index Name") for n in nodes}
            if kind.name in PICK_INDEX:
                conds = [n.get("Index Cond", "") for n in nodes if n.get("Index Name") == PICK_INDEX[kind.name]]
                assert any(">=" in c for c in conds), (kind.name, conds)
            else:
                seen |= indexes & {"idx_consultas_realizadas", "internacoes_pkey"}
    assert seen == {"idx_consultas_realizadas", "internacoes_pkey"}


@pytest.mark.seeded(**BILLING)
def test_two_writers_never_bill_one_consulta_twice(make_config, make_streamer, db):
    config = make_config(STREAM_WRITERS="2", STREAM_OP_WEIGHTS="update=1", STREAM_UPDATE_WEIGHTS="consulta_status=1",
                         STREAM_EXTRA_WEIGHTS="guia_abertura=3,guia_faturamento=0.1,guia_desfecho=0.1")  # fmt: skip
    streamer = make_streamer(config)
    assert streamer.run_events(400) == 400  # a conflict is a fallback, never a failed event
    assert streamer.stats.kinds["guia_abertura"] > 150
    billed = query(db, "SELECT count(consulta_id), count(DISTINCT consulta_id) FROM faturamento")[0]
    assert billed[0] == billed[1]
