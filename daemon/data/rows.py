"""Row generators for the seven tables: pure (no database, no global random state).

Faker (pt_BR) is called only to build pools of names, streets and districts; rows are composed
from the pools with an explicit ``random.Random``, which is both fast and deterministic.
Each method returns a tuple in the column order of ``COLUMNS[table]``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate

from faker import Faker

from daemon.data import brazil, vocab

BRT = timezone(timedelta(hours=-3), "BRT")  # Brasília time (no daylight saving since 2019)

COLUMNS: dict[str, tuple[str, ...]] = {
    "pacientes": ("id", "nome", "nascimento", "cpf", "telefone", "endereco", "data_cadastro"),
    "medicos": ("id", "nome", "crm", "especialidade", "telefone"),
    "convenios": ("id", "nome", "cnpj", "tipo", "cobertura"),
    "pacientes_convenios": ("id", "paciente_id", "convenio_id", "numero_carteira", "validade"),
    "consultas": ("id", "paciente_id", "medico_id", "data", "motivo", "status"),
    "exames": ("id", "paciente_id", "tipo_exame", "data", "resultado"),
    "internacoes": ("id", "paciente_id", "data_entrada", "data_saida", "motivo", "quarto"),
}

CONSULTA_STATUS = ("agendada", "realizada", "cancelada", "faltou")
CONSULTA_STATUS_WEIGHTS = (55, 35, 5, 5)
DISCHARGED_SHARE = 0.70
_UFS = tuple(vocab.UF_WEIGHTS)
_UF_CUM = tuple(accumulate(vocab.UF_WEIGHTS.values()))


@dataclass(frozen=True)
class Pools:
    """Faker-made vocabularies, built once per seed."""

    female_first: tuple[str, ...]
    male_first: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    districts: tuple[str, ...]
    cities: tuple[str, ...]

    @classmethod
    def build(cls, seed: int, size: int = 400) -> Pools:
        fake = Faker("pt_BR")
        fake.seed_instance(seed)

        def unique(make: Callable[[], str], n: int) -> tuple[str, ...]:
            seen: dict[str, None] = {}
            for _ in range(n * 4):
                seen.setdefault(make(), None)
                if len(seen) >= n:
                    break
            return tuple(seen)

        return cls(
            female_first=unique(fake.first_name_female, size // 2),
            male_first=unique(fake.first_name_male, size // 2),
            last=unique(fake.last_name, size),
            streets=unique(fake.street_name, size),
            districts=unique(fake.bairro, size // 2),
            cities=unique(fake.city, size // 2),
        )


class HospitalData:
    """Generates plausible rows around ``anchor`` (the simulated 'now')."""

    def __init__(self, rng: random.Random, pools: Pools, anchor: datetime) -> None:
        self.rng = rng
        self.pools = pools
        self.retarget(anchor)

    def retarget(self, anchor: datetime) -> None:
        """Move the simulated 'now' (the stream follows the wall clock)."""
        self.anchor = anchor
        self.today = anchor.astimezone(BRT).date()

    # -- building blocks -------------------------------------------------------------------
    def uf(self) -> str:
        return self.rng.choices(_UFS, cum_weights=_UF_CUM)[0]

    def person_name(self) -> str:
        rng, pools = self.rng, self.pools
        first = rng.choice(pools.female_first if rng.random() < 0.51 else pools.male_first)
        surnames = rng.sample(pools.last, 2 if rng.random() < 0.7 else 1)
        return " ".join((first, *surnames))

    def phone(self, uf: str, mobile_share: float = 0.8) -> str:
        ddd = self.rng.choice(vocab.UF_INFO[uf][1])
        return brazil.format_phone(ddd, self.rng.randrange(10**8), self.rng.random() < mobile_share)

    def address(self, uf: str) -> str:
        rng, pools = self.rng, self.pools
        city = vocab.UF_INFO[uf][0] if rng.random() < 0.6 else rng.choice(pools.cities)
        cep = f"{rng.randrange(10**5):05d}-{rng.randrange(1000):03d}"
        return (
            f"{rng.choice(pools.streets)}, {rng.randint(1, 3999)} - {rng.choice(pools.districts)}, {city} - {uf}, {cep}"
        )

    def moment(self, start_days: float, end_days: float, business_hours: bool = False) -> datetime:
        """A time between anchor+start_days and anchor+end_days, in Brasília time."""
        day = self.anchor + timedelta(days=self.rng.uniform(start_days, end_days))
        day = day.astimezone(BRT)
        if business_hours:
            day = day.replace(
                hour=self.rng.randint(7, 18), minute=self.rng.choice((0, 15, 30, 45)), second=0, microsecond=0
            )
        else:
            day = day.replace(microsecond=0)
        return day

    # -- rows ------------------------------------------------------------------------------
    def paciente(self, pk: int) -> tuple:
        rng = self.rng
        uf = self.uf()
        age_days = int(rng.triangular(0, 95, 38) * 365.25) + rng.randrange(365)
        nascimento = self.today - timedelta(days=age_days)
        cadastro = self.moment(-3650, 0)
        return (
            pk,
            self.person_name(),
            nascimento,
            brazil.cpf_for_index(pk),
            self.phone(uf),
            self.address(uf),
            cadastro,
        )

    def medico(self, pk: int) -> tuple:
        uf = self.uf()
        return (
            pk,
            self.person_name(),
            brazil.crm_for_index(pk, uf),
            self.rng.choice(vocab.ESPECIALIDADES),
            self.phone(uf, mobile_share=0.5),
        )

    def convenio(self, pk: int, index: int) -> tuple:
        name, tipo, cobertura = vocab.OPERADORAS[index % len(vocab.OPERADORAS)]
        if index >= len(vocab.OPERADORAS) or name == "Unimed":
            name = f"{name} {self.rng.choice(self.pools.cities)}"
        return (pk, name, brazil.cnpj_for_index(index), tipo, cobertura)

    def carteira(self, paciente_id: int, convenio_id: int) -> tuple[str, date]:
        numero = f"{convenio_id:04d}{paciente_id:010d}{self.rng.randrange(100):02d}"
        validade = self.today + timedelta(days=self.rng.randint(-365, 3 * 365))
        return numero, validade

    def consulta(self, pk: int, paciente_id: int, medico_id: int, status: str | None = None) -> tuple:
        rng = self.rng
        if status is None:
            status = rng.choices(CONSULTA_STATUS, CONSULTA_STATUS_WEIGHTS)[0]
        if status == "agendada":
            when = self.moment(0.05, 60, business_hours=True)
            while when <= self.anchor:
                when += timedelta(days=1)
        elif status == "cancelada":
            when = self.moment(-365, 60, business_hours=True)
        else:  # realizada / faltou happened in the past
            when = self.moment(-365, -0.05, business_hours=True)
            while when >= self.anchor:
                when -= timedelta(days=1)
        return (pk, paciente_id, medico_id, when, rng.choice(vocab.MOTIVOS_CONSULTA), status)

    def exame(self, pk: int, paciente_id: int, ordered: bool = False) -> tuple:
        """A historical exam (90 % of past ones have a result), or with ``ordered`` one just
        ordered: collected up to a day ago or scheduled within 30 days, its result pending."""
        rng = self.rng
        if ordered:
            return (pk, paciente_id, rng.choice(vocab.TIPOS_EXAME), self.moment(-1, 30), None)
        when = self.moment(-730, 30)
        resultado = rng.choice(vocab.RESULTADOS_CURTOS) if when < self.anchor and rng.random() < 0.9 else None
        return (pk, paciente_id, rng.choice(vocab.TIPOS_EXAME), when, resultado)

    def internacao(self, pk: int, paciente_id: int, admitted: bool = False) -> tuple:
        """A historical stay (70 % discharged), or with ``admitted`` an admission happening now."""
        rng = self.rng
        quarto = f"{rng.randint(1, 9)}{rng.randint(1, 30):02d}-{rng.choice('AB')}"
        if admitted:
            entrada = self.anchor.astimezone(BRT).replace(microsecond=0)
            return (pk, paciente_id, entrada, None, rng.choice(vocab.MOTIVOS_INTERNACAO), quarto)
        if rng.random() < DISCHARGED_SHARE:
            stay = timedelta(seconds=rng.randint(43_200, 20 * 86_400))
            saida = self.moment(-365, 0)
            if saida > self.anchor:
                saida = self.anchor.astimezone(BRT).replace(microsecond=0)
            entrada = saida - stay
        else:
            entrada, saida = self.moment(-30, 0), None
            if entrada > self.anchor:
                entrada = self.anchor.astimezone(BRT).replace(microsecond=0)
        return (pk, paciente_id, entrada, saida, rng.choice(vocab.MOTIVOS_INTERNACAO), quarto)
