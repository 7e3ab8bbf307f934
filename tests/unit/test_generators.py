from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from daemon.data import brazil, vocab
from daemon.data.bulk import BulkData, iso_dates
from daemon.data.copytext import escape
from daemon.data.draws import lut
from daemon.data.rows import BRT, HospitalData, Pools
from tests.support.checkdigits import valid_cpf

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
    assert unicodedata.is_normalized("NFC", text)  # precomposed accents: one code point each, as PostgreSQL compares
    assert not re.search("[\u0080-\u009f\ufffd]|Ã[\u0080-\u00bf]", text)  # no mojibake (UTF-8 decoded as Latin-1)


# -- bulk generation (the seed's hot path) ---------------------------------------------------------


@pytest.fixture(scope="module")
def bulk(pools) -> BulkData:
    return BulkData(pools, ANCHOR)


def rows_of(blocks) -> list[list[str | None]]:
    """COPY text lines -> fields (\\N -> None)."""
    out = []
    for block in blocks:
        for line in block:
            assert line.endswith("\n") and "\n" not in line[:-1]
            out.append([None if f == "\\N" else f for f in line[:-1].split("\t")])
    return out


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_bulk_cpfs_are_brazil_cpf_for_index(bulk):
    assert bulk.cpfs(1, 5000) == [brazil.cpf_for_index(i) for i in range(1, 5001)]
    rng = random.Random(3)
    for start in (rng.randrange(10**9 - 100) for _ in range(50)):
        assert bulk.cpfs(start, 100) == [brazil.cpf_for_index(i) for i in range(start, start + 100)]
    assert all(valid_cpf(c) for c in bulk.cpfs(10**9 - 1000, 1000))
    with pytest.raises(ValueError):
        bulk.cpfs(10**9 - 1, 2)


def test_iso_dates_match_the_calendar():
    first = datetime(1899, 3, 1).toordinal()
    assert iso_dates(first, 50_000) == [
        datetime.fromordinal(o).date().isoformat() for o in range(first, first + 50_000)
    ]


def test_lut_follows_the_weights():
    table = lut(("a", "b", "c"), (55, 35, 10))
    assert len(table) == 65_536
    assert Counter(table)["a"] / 65_536 == pytest.approx(0.55, abs=1e-4)
    assert "z" not in lut(("y", "z"), (1, 0))


def test_bulk_pacientes_are_plausible(bulk):
    rows = rows_of(bulk.pacientes(random.Random(1), 20_000))
    assert [int(r[0]) for r in rows] == list(range(1, 20_001))
    ufs = Counter()
    for pk, nome, nascimento, cpf, telefone, endereco, cadastro in rows:
        assert cpf == brazil.cpf_for_index(int(pk))
        assert len(nome.split()) >= 2
        born = datetime.fromisoformat(nascimento).date()
        assert born <= ANCHOR.date() and (ANCHOR.date() - born).days < 100 * 366
        assert ANCHOR - timedelta(days=3651) <= ts(cadastro) <= ANCHOR
        uf = endereco.rsplit(" - ", 1)[1].split(",")[0]
        assert uf in vocab.UF_INFO
        assert int(telefone[1:3]) in vocab.UF_INFO[uf][1]
        assert re.fullmatch(r"\(\d\d\) (9\d{4}|[2-5]\d{3})-\d{4}", telefone)
        assert re.search(r", \d{5}-\d{3}$", endereco)
        ufs[uf] += 1
    assert ufs.most_common(1)[0][0] == "SP"
    text = " ".join(r[1] + r[5] for r in rows[:500])
    assert any(ch in text for ch in "ãáâéêíóôõúç")


def test_bulk_medicos_have_crm_with_real_uf(bulk):
    rows = rows_of(bulk.medicos(random.Random(2), 3_000))
    for pk, _nome, crm, especialidade, telefone in rows:
        assert crm == brazil.crm_for_index(int(pk), crm[-2:])
        assert crm[-2:] in vocab.UF_INFO and re.fullmatch(r"\d{6}-[A-Z]{2}", crm)
        assert especialidade in vocab.ESPECIALIDADES
        assert int(telefone[1:3]) in vocab.UF_INFO[crm[-2:]][1]
    assert len({r[2] for r in rows}) == len(rows)


def test_bulk_consultas_status_and_dates(bulk):
    rows = rows_of(bulk.consultas(random.Random(3), 40_000, 500, 50))
    share = {s: n / len(rows) for s, n in Counter(r[5] for r in rows).items()}
    assert share["agendada"] == pytest.approx(0.55, abs=0.01)
    assert share["realizada"] == pytest.approx(0.35, abs=0.01)
    assert share["cancelada"] == pytest.approx(0.05, abs=0.005)
    assert share["faltou"] == pytest.approx(0.05, abs=0.005)
    for _, paciente, medico, data, motivo, status in rows:
        assert 1 <= int(paciente) <= 500 and 1 <= int(medico) <= 50
        assert motivo in vocab.MOTIVOS_CONSULTA
        when = ts(data)
        local = when.astimezone(BRT)
        assert 7 <= local.hour <= 18 and local.minute in (0, 15, 30, 45) and local.second == 0
        if status == "agendada":
            assert ANCHOR + timedelta(days=1) < when <= ANCHOR + timedelta(days=63)
        elif status in ("realizada", "faltou"):
            assert ANCHOR - timedelta(days=367) <= when < ANCHOR
        else:
            assert ANCHOR - timedelta(days=367) <= when <= ANCHOR + timedelta(days=62)


@pytest.mark.parametrize("hour", [0, 3, 12, 23])
def test_bulk_consultas_respect_any_anchor(pools, hour):
    anchor = ANCHOR.replace(hour=hour, minute=7, second=30)
    rows = rows_of(BulkData(pools, anchor).consultas(random.Random(hour), 20_000, 10, 10))
    for *_, data, _, status in rows:
        if status == "agendada":
            assert ts(data) > anchor + timedelta(days=1)
        elif status in ("realizada", "faltou"):
            assert ts(data) < anchor


def test_bulk_exames_results_only_in_the_past(bulk):
    rows = rows_of(bulk.exames(random.Random(4), 30_000, 100))
    past = [r for r in rows if ts(r[3]) < ANCHOR]
    assert len(past) / len(rows) == pytest.approx(730 / 760, abs=0.01)
    for _, paciente, tipo, data, resultado in rows:
        assert 1 <= int(paciente) <= 100 and tipo in vocab.TIPOS_EXAME
        assert ANCHOR - timedelta(days=730) <= ts(data) <= ANCHOR + timedelta(days=30)
        if ts(data) >= ANCHOR:
            assert resultado is None
        else:
            assert resultado is None or resultado in vocab.RESULTADOS_CURTOS
    assert sum(r[4] is not None for r in past) / len(past) == pytest.approx(0.9, abs=0.01)


def test_bulk_internacoes_seventy_percent_discharged_and_consistent(bulk):
    rows = rows_of(bulk.internacoes(random.Random(5), 30_000, 100))
    discharged = [r for r in rows if r[3] is not None]
    assert len(discharged) / len(rows) == pytest.approx(0.70, abs=0.01)
    for _, _, entrada, saida, motivo, quarto in rows:
        assert motivo in vocab.MOTIVOS_INTERNACAO and len(quarto) <= 10
        assert ts(entrada) <= ANCHOR
        if saida is None:
            assert ANCHOR - timedelta(days=30, seconds=1) <= ts(entrada)
        else:
            stay = ts(saida) - ts(entrada)
            assert ts(saida) <= ANCHOR and timedelta(hours=12) <= stay <= timedelta(days=20)


@pytest.mark.parametrize(
    ("count", "pacientes", "convenios"), [(2_500, 2_000, 12), (24, 2, 12), (1, 1, 1), (9_000, 900, 10)]
)
def test_bulk_pacientes_convenios_pairs_are_unique(bulk, count, pacientes, convenios):
    ids = [1, 2, *range(7, 7 + convenios - 2)] if convenios > 2 else list(range(1, convenios + 1))
    rows = rows_of(bulk.pacientes_convenios(random.Random(6), count, pacientes, ids))
    pairs = [(int(r[1]), int(r[2])) for r in rows]
    assert len(rows) == count and len(set(pairs)) == count
    assert [int(r[0]) for r in rows] == list(range(1, count + 1))
    for (paciente, convenio), (_, _, _, carteira, validade) in zip(pairs, rows):
        assert 1 <= paciente <= pacientes and convenio in ids
        assert carteira.startswith(f"{convenio:04d}{paciente:010d}") and len(carteira) == 16
        days = (datetime.fromisoformat(validade).date() - ANCHOR.date()).days
        assert -366 <= days <= 3 * 365 + 1
    with pytest.raises(ValueError):
        next(bulk.pacientes_convenios(random.Random(6), 3, 1, [1, 2]))


def test_bulk_rows_are_deterministic(pools):
    def everything(seed: int) -> list[str]:
        data = BulkData(Pools.build(99), ANCHOR)
        out = []
        for blocks in (
            data.pacientes(random.Random(seed), 5000),
            data.medicos(random.Random(seed), 300),
            data.pacientes_convenios(random.Random(seed), 700, 5000, [1, 2, 3]),
            data.consultas(random.Random(seed), 5000, 5000, 300),
            data.exames(random.Random(seed), 5000, 5000),
            data.internacoes(random.Random(seed), 5000, 5000),
        ):
            out += [line for block in blocks for line in block]
        return out

    assert everything(7) == everything(7)
    assert everything(7) != everything(8)


def test_copy_text_is_escaped(pools):
    assert escape("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    tricky = Pools(("Ana\tMaria",), ("João\\",), ("Silva\nSouza", "Lima"), ("Rua\r1",), ("Centro",), ("Natal",))
    for block in BulkData(tricky, ANCHOR).pacientes(random.Random(1), 300):
        for line in block:
            assert line.count("\t") == 6 and line.count("\n") == 1 and "\r" not in line
