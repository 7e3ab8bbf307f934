from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from daemon import vocab
from daemon.generators import BRT, HospitalData, Pools

ANCHOR = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pools() -> Pools:
    return Pools.build(99)


def make(pools: Pools, seed: int = 1) -> HospitalData:
    return HospitalData(random.Random(seed), pools, ANCHOR)


def test_consulta_status_distribution(pools):
    data = make(pools)
    statuses = Counter(data.consulta(i, 1, 1)[5] for i in range(20_000))
    share = {s: n / 20_000 for s, n in statuses.items()}
    assert share["agendada"] == pytest.approx(0.55, abs=0.015)
    assert share["realizada"] == pytest.approx(0.35, abs=0.015)
    assert share["cancelada"] == pytest.approx(0.05, abs=0.007)
    assert share["faltou"] == pytest.approx(0.05, abs=0.007)


def test_consulta_dates_follow_status(pools):
    data = make(pools)
    for i in range(5_000):
        _, _, _, when, motivo, status = data.consulta(i, 1, 1)
        assert motivo in vocab.MOTIVOS_CONSULTA
        assert 7 <= when.astimezone(BRT).hour <= 18
        if status == "agendada":
            assert ANCHOR < when <= ANCHOR.replace(year=2026, month=8, day=16)
        elif status in ("realizada", "faltou"):
            assert ANCHOR - timedelta(days=366) <= when < ANCHOR


def test_internacoes_seventy_percent_discharged_and_consistent(pools):
    data = make(pools)
    rows = [data.internacao(i, 1) for i in range(10_000)]
    discharged = [r for r in rows if r[3] is not None]
    assert len(discharged) / len(rows) == pytest.approx(0.70, abs=0.02)
    for _, _, entrada, saida, _, quarto in rows:
        assert entrada <= ANCHOR
        assert saida is None or entrada <= saida <= ANCHOR
        assert len(quarto) <= 10


def test_pacientes_are_plausible(pools):
    data = make(pools)
    for pk in range(1, 3_000):
        _, nome, nascimento, cpf, telefone, endereco, cadastro = data.paciente(pk)
        assert nascimento <= ANCHOR.date()
        assert (ANCHOR.date() - nascimento).days < 100 * 366
        assert cadastro <= ANCHOR
        assert len(nome.split()) >= 2
        uf = endereco.rsplit(" - ", 1)[1].split(",")[0]
        assert uf in vocab.UF_INFO
        ddd = int(telefone[1:3])
        assert ddd in vocab.UF_INFO[uf][1]


def test_exames_results_only_in_the_past(pools):
    data = make(pools)
    for pk in range(5_000):
        _, _, tipo, when, resultado = data.exame(pk, 1)
        assert tipo in vocab.TIPOS_EXAME
        if when > ANCHOR:
            assert resultado is None


def test_same_seed_same_rows(pools):
    a, b = make(pools, 7), make(Pools.build(99), 7)
    for pk in range(500):
        assert a.paciente(pk) == b.paciente(pk)
        assert a.consulta(pk, 1, 2) == b.consulta(pk, 1, 2)
    c = make(pools, 8)
    assert [c.paciente(pk) for pk in range(50)] != [make(pools, 7).paciente(pk) for pk in range(50)]


def test_text_is_accented_utf8(pools):
    data = make(pools)
    text = " ".join(str(v) for pk in range(500) for v in data.paciente(pk) + data.medico(pk))
    assert any(ch in text for ch in "ãáâéêíóôõúç")
    text.encode("utf-8")
