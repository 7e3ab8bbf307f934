"""A seed at SEED_SCALE=20 (~268k rows): the bulk path (deferred FKs/indexes, streamed COPY)
checked for validity and uniqueness over every row. No timing assertions."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from daemon.data import brazil, vocab
from daemon.pg import schema
from daemon.pg.tables import INDEXES
from tests.support.checkdigits import valid_cnpj, valid_cpf
from tests.support.db import query

SCALE = 20


pytestmark = pytest.mark.seeded(SEED_SCALE=str(SCALE), RANDOM_SEED="2026")  # seeded once, cloned per test


@pytest.fixture
def seeded(make_config, seeded_database):
    """The config, what the seed loaded, and the indexes as bootstrapped (before the bulk load)."""
    return make_config(), seeded_database.loaded, seeded_database.bootstrapped_indexes


def test_scaled_volumes_are_exact(seeded, db):
    config, loaded, _ = seeded
    volumes = config.seed.scaled()
    assert sum(volumes.values()) > 260_000
    for table in schema.TABLES:
        assert query(db, f"SELECT count(*), max(id) FROM {table}")[0] == (volumes[table], volumes[table]), table
    assert loaded["convenios"] == volumes["convenios"] - 2


def test_identifiers_are_valid_and_unique(seeded, db):
    rows = query(db, "SELECT id, cpf FROM pacientes")
    assert all(cpf == brazil.cpf_for_index(pk) and valid_cpf(cpf) for pk, cpf in rows)
    assert len({cpf for _, cpf in rows}) == len(rows)
    cnpjs = [c for (c,) in query(db, "SELECT cnpj FROM convenios")]
    assert all(valid_cnpj(c) for c in cnpjs) and len(set(cnpjs)) == len(cnpjs)
    crms = [c for (c,) in query(db, "SELECT crm FROM medicos")]
    assert len(set(crms)) == len(crms)
    assert all(re.fullmatch(r"\d{6}-[A-Z]{2}", c) and c[-2:] in vocab.UF_INFO for c in crms)
    pairs = query(db, "SELECT count(*), count(DISTINCT (paciente_id, convenio_id)) FROM pacientes_convenios")[0]
    assert pairs[0] == pairs[1]


def test_phones_match_the_uf(seeded, db):
    ufs = Counter()
    for telefone, endereco in query(db, "SELECT telefone, endereco FROM pacientes"):
        uf = endereco.rsplit(" - ", 1)[1].split(",")[0]
        assert int(telefone[1:3]) in vocab.UF_INFO[uf][1], (telefone, endereco)
        ufs[uf] += 1
    assert len(ufs) == 27 and ufs.most_common(1)[0][0] == "SP"
    for telefone, crm in query(db, "SELECT telefone, crm FROM medicos"):
        assert int(telefone[1:3]) in vocab.UF_INFO[crm[-2:]][1]


def test_distributions_and_dates(seeded, db):
    n = query(db, "SELECT count(*) FROM consultas")[0][0]
    status = dict(query(db, "SELECT status, count(*) FROM consultas GROUP BY status"))
    for name, share in (("agendada", 0.55), ("realizada", 0.35), ("cancelada", 0.05), ("faltou", 0.05)):
        assert status[name] / n == pytest.approx(share, abs=0.01), name
    assert query(db, "SELECT count(*) FROM consultas WHERE status = 'agendada' AND data <= now()")[0][0] == 0
    assert (
        query(db, "SELECT count(*) FROM consultas WHERE status IN ('realizada', 'faltou') AND data >= now()")[0][0] == 0
    )
    hours = query(
        db, "SELECT DISTINCT extract(hour FROM (data AT TIME ZONE 'UTC') - interval '3 hours') FROM consultas"
    )
    assert {int(h) for (h,) in hours} == set(range(7, 19))
    discharged = query(db, "SELECT avg((data_saida IS NOT NULL)::int) FROM internacoes")[0][0]
    assert float(discharged) == pytest.approx(0.70, abs=0.01)
    assert (
        query(
            db,
            "SELECT count(*) FROM internacoes WHERE data_entrada > now() OR data_saida > now() "
            "OR data_saida < data_entrada",
        )[0][0]
        == 0
    )
    assert query(db, "SELECT count(*) FROM exames WHERE resultado IS NOT NULL AND data > now()")[0][0] == 0
    assert query(db, "SELECT count(*) FROM pacientes WHERE nascimento > current_date")[0][0] == 0
    assert query(db, "SELECT count(*) FROM pacientes WHERE data_cadastro > now()")[0][0] == 0


def test_schema_is_whole_after_the_bulk_load(seeded, db):
    _, _, before = seeded
    after = query(db, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    assert after == before and set(INDEXES) <= {name for name, _ in after}
    fks = query(db, "SELECT confupdtype, confdeltype, convalidated FROM pg_constraint WHERE contype = 'f'")
    assert len(fks) == 6 and set(fks) == {("c", "r", True)}
    orphans = query(
        db,
        """
        SELECT (SELECT count(*) FROM consultas c LEFT JOIN medicos m ON m.id = c.medico_id WHERE m.id IS NULL)
             + (SELECT count(*) FROM internacoes i LEFT JOIN pacientes p ON p.id = i.paciente_id WHERE p.id IS NULL)""",
    )[0][0]
    assert orphans == 0
    next_id = query(db, "INSERT INTO exames (paciente_id, tipo_exame, data) VALUES (1, 'PCR', now()) RETURNING id")
    assert next_id[0][0] == 3500 * SCALE + 1
