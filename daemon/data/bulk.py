"""Bulk row generation for the seed: COPY text built directly, many rows at a time.

``HospitalData`` composes one row at a time from Python objects (dates, tuples), which is right
for the stream but caps a large seed at ~19k rows/s. Here every column of a block of rows is
drawn at once from ``rng.randbytes`` (uniform 16/32-bit integers), categorical choices go through
65,536-entry lookup tables (weights included), timestamps are integer seconds from the anchor
formatted with precomputed day and time-of-day strings, and each row becomes one f-string of
COPY text. The vocabularies are the same Faker-built ``Pools`` and ``vocab`` tuples.

Rows depend only on the table's ``random.Random``, the pools, the anchor and the volumes: not on
how they are later cut into COPY chunks. Blocks are lists of ``\\n``-terminated lines.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from functools import cache, cached_property
from math import sqrt

from daemon.data import brazil, vocab
from daemon.data.copytext import NULL, escape
from daemon.data.draws import LUT_SIZE, below, lut, pick, u16, u32
from daemon.data.rows import BRT, CONSULTA_STATUS, CONSULTA_STATUS_WEIGHTS, DISCHARGED_SHARE, Pools

BLOCK = 4096  # rows drawn together: fixed, so the rows never depend on BATCH_SIZE
DAY = 86_400
DAYS_BACK = 36_600  # nascimento: up to ~96 years ago
DAYS_AHEAD = 1_100  # convênio validity: up to 3 years ahead


# -- time --------------------------------------------------------------------------------------
_MONTH_DAYS: dict[bool, list[str]] = {False: [], True: []}  # leap year? -> "MM-DD" for every day of such a year
for _m in range(1, 13):
    for _leap, _year in ((False, 2001), (True, 2000)):
        _MONTH_DAYS[_leap].extend(f"{_m:02d}-{_d:02d}" for _d in range(1, calendar.monthrange(_year, _m)[1] + 1))


def iso_dates(first: int, count: int) -> list[str]:
    """ISO dates of ``count`` consecutive days from ordinal ``first`` (year by year: fast)."""
    start, last = date.fromordinal(first), date.fromordinal(first + count - 1)
    out: list[str] = []
    for year in range(start.year, last.year + 1):
        out.extend(f"{year:04d}-{md}" for md in _MONTH_DAYS[calendar.isleap(year)])
    skip = first - date(start.year, 1, 1).toordinal()
    return out[skip : skip + count]


@cache
def _time_of_day() -> list[str]:
    """' HH:MM:SS-03' for every second of a day (built once per process)."""
    rest = [f"{m:02d}:{s:02d}-03" for m in range(60) for s in range(60)]
    return [f" {h:02d}:" + r for h in range(24) for r in rest]


class Clock:
    """Dates and timestamps (Brasília time) as text, from whole days / seconds around the anchor."""

    def __init__(self, anchor: datetime) -> None:
        local = anchor.astimezone(BRT)
        self.today = local.date()
        self.anchor_sod = local.hour * 3600 + local.minute * 60 + local.second  # anchor, s after local midnight
        self.dates = iso_dates(self.today.toordinal() - DAYS_BACK, DAYS_BACK + DAYS_AHEAD + 1)
        self.tod = _time_of_day()

    def day(self, offset_days: int) -> str:
        """The date ``offset_days`` from today (Brasília)."""
        return self.dates[offset_days + DAYS_BACK]

    def stamps(self, offsets: Sequence[int]) -> list[str]:
        """Timestamps ``offsets`` seconds from the anchor (truncated to the second)."""
        dates, tod, base = self.dates, self.tod, self.anchor_sod + DAYS_BACK * DAY
        return [dates[t // DAY] + tod[t % DAY] for t in (base + o for o in offsets)]


def _offsets(rng: random.Random, n: int, low: int, high: int) -> list[int]:
    """``n`` uniform whole seconds in [low, high]."""
    span = high - low + 1
    return [low + ((x * span) >> 32) for x in u32(rng, n)]


# -- the generator -----------------------------------------------------------------------------
_BUSINESS_SLOTS = [(h * 3600 + m * 60) for h in range(7, 19) for m in (0, 15, 30, 45)]
# status -> (first day, last day) relative to today (Brasília), for a business-hours slot.
# Scheduled consultas start the day after tomorrow, so they stay in the future all through the
# seed's day; past ones are moved a day back when they would not be before the anchor.
_CONSULTA_DAYS = {"agendada": (2, 61), "realizada": (-365, 0), "cancelada": (-365, 60), "faltou": (-365, 0)}
_PAST_ONLY = {"realizada", "faltou"}


class _Vocab:
    """Lookup tables that depend on nothing but ``vocab`` (built once per process)."""

    def __init__(self) -> None:
        esc = _escape_all
        # (UF, DDD) jointly: a UF by population weight, then one of its area codes.
        joint = [(uf, ddd) for uf in vocab.UF_WEIGHTS for ddd in vocab.UF_INFO[uf][1]]
        weights = [vocab.UF_WEIGHTS[uf] / len(vocab.UF_INFO[uf][1]) for uf, _ in joint]
        self.uf = lut([uf for uf, _ in joint], weights)
        self.ddd = lut([f"({ddd:02d}) " for _, ddd in joint], weights)
        self.capital = lut([escape(vocab.UF_INFO[uf][0]) for uf, _ in joint], weights)
        self.p4 = [f"{i:04d}" for i in range(10_000)]
        self.land4 = [f"{2 + i // 1000}{i % 1000:03d}" for i in range(4_000)]
        self.especialidades = lut(esc(vocab.ESPECIALIDADES))
        self.tipos_exame = lut(esc(vocab.TIPOS_EXAME))
        self.motivos_consulta = lut(esc(vocab.MOTIVOS_CONSULTA))
        self.motivos_internacao = lut(esc(vocab.MOTIVOS_INTERNACAO))
        results = esc(vocab.RESULTADOS_CURTOS)
        self.resultados = lut([*results, NULL], [0.9 / len(results)] * len(results) + [0.1])
        self.quartos = lut([f"{a}{b:02d}-{c}" for a in range(1, 10) for b in range(1, 31) for c in "AB"])
        self.status = lut(range(len(CONSULTA_STATUS)), CONSULTA_STATUS_WEIGHTS)
        self.age_days = _triangular_quantiles(0, 95, 38)  # already 65,536 equiprobable values
        # CPF: the check-digit sums split over the three 3-digit groups of the base.
        self.cpf_group = [f"{g:03d}" for g in range(1000)]
        self.cpf_sums = [
            [(_dot(g, w1), _dot(g, w2)) for g in range(1000)]
            for w1, w2 in (((10, 9, 8), (11, 10, 9)), ((7, 6, 5), (8, 7, 6)), ((4, 3, 2), (5, 4, 3)))
        ]


@cache
def _vocab_tables() -> _Vocab:
    return _Vocab()


def _escape_all(items: Sequence[str]) -> list[str]:
    return [escape(s) for s in items]


class BulkData:
    """COPY-text blocks for the seed; one instance per seed (pools and anchor fixed)."""

    def __init__(self, pools: Pools, anchor: datetime) -> None:
        self.v = _vocab_tables()
        self.anchor = anchor
        self.clock = Clock(anchor)
        female, male = _escape_all(pools.female_first), _escape_all(pools.male_first)
        self.first = lut(female + male, [0.51 / len(female)] * len(female) + [0.49 / len(male)] * len(male))
        self.last = _escape_all(pools.last)
        self.streets = lut(_escape_all(pools.streets))
        self.districts = lut(_escape_all(pools.districts))
        self.cities = lut(_escape_all(pools.cities))

    @cached_property
    def _consulta_when(self) -> list[list[str]]:
        """Per status (CONSULTA_STATUS order): every possible business-hours moment, as text."""
        return [self._consulta_slots(status) for status in CONSULTA_STATUS]

    def _consulta_slots(self, status: str) -> list[str]:
        first, last = _CONSULTA_DAYS[status]
        clock = self.clock
        out: list[str] = []
        for day in range(first, last + 1):
            if day not in (0, 1):  # only today and tomorrow can fall on the wrong side of the anchor
                text = clock.day(day)
                out.extend([text + clock.tod[second] for second in _BUSINESS_SLOTS])
                continue
            for second in _BUSINESS_SLOTS:
                shifted = day
                if status in _PAST_ONLY:
                    while shifted * DAY + second >= clock.anchor_sod:
                        shifted -= 1
                elif status == "agendada":
                    while shifted * DAY + second <= clock.anchor_sod:
                        shifted += 1
                out.append(clock.day(shifted) + clock.tod[second])
        return out

    # -- columns -----------------------------------------------------------------------------
    def cpfs(self, first_pk: int, n: int) -> list[str]:
        """``brazil.cpf_for_index(pk)`` for pk in [first_pk, first_pk + n), without per-row digit lists."""
        a, b, space = brazil.CPF_A, brazil.CPF_B, brazil.CPF_SPACE
        group, (hi, mid, lo) = self.v.cpf_group, self.v.cpf_sums
        out = []
        for pk in range(first_pk, first_pk + n):
            if not 0 <= pk < space:
                raise ValueError(f"index {pk} outside [0, {space})")
            base = (a * pk + b) % space
            g1, rest = divmod(base, 1_000_000)
            g2, g3 = divmod(rest, 1000)
            s1 = hi[g1][0] + mid[g2][0] + lo[g3][0]
            d1 = 0 if s1 % 11 < 2 else 11 - s1 % 11
            s2 = hi[g1][1] + mid[g2][1] + lo[g3][1] + 2 * d1
            d2 = 0 if s2 % 11 < 2 else 11 - s2 % 11
            out.append(f"{group[g1]}.{group[g2]}.{group[g3]}-{d1}{d2}")
        return out

    def names(self, rng: random.Random, n: int) -> list[str]:
        """First name (51% female pool) and one or two (70%) distinct surnames."""
        last, m = self.last, len(self.last)
        firsts = pick(self.first, u16(rng, n))
        s1 = [(x * m) >> 16 for x in u16(rng, n)]
        if m < 2:
            return [f"{f} {last[a]}" for f, a in zip(firsts, s1)]
        s2 = [(x * (m - 1)) >> 16 for x in u16(rng, n)]
        two = u16(rng, n)
        cut = int(0.7 * LUT_SIZE)
        return [
            f"{f} {last[a]} {last[(a + 1 + b) % m]}" if t < cut else f"{f} {last[a]}"
            for f, a, b, t in zip(firsts, s1, s2, two)
        ]

    def phones(self, rng: random.Random, ddds: list[str], mobile_share: float) -> list[str]:
        """``(DD) 9XXXX-XXXX`` mobiles (``mobile_share``) or ``(DD) [2-5]XXX-XXXX`` landlines."""
        n = len(ddds)
        p4, land4, cut = self.v.p4, self.v.land4, int(mobile_share * LUT_SIZE)
        head = [(x * 10_000) >> 16 for x in u16(rng, n)]
        tail = [(x * 10_000) >> 16 for x in u16(rng, n)]
        return [
            f"{d}9{p4[h]}-{p4[t]}" if k < cut else f"{d}{land4[h * 2 // 5]}-{p4[t]}"
            for d, h, t, k in zip(ddds, head, tail, u16(rng, n))
        ]

    # -- tables (blocks of COPY lines in COLUMNS order) -------------------------------------------
    def pacientes(self, rng: random.Random, count: int) -> Iterator[list[str]]:
        clock = self.clock
        for start in range(1, count + 1, BLOCK):
            n = min(BLOCK, count + 1 - start)
            joint = u16(rng, n)
            ufs, ddds, capitals = pick(self.v.uf, joint), pick(self.v.ddd, joint), pick(self.v.capital, joint)
            names = self.names(rng, n)
            dates, today = clock.dates, DAYS_BACK  # birth = today - (triangular age + a random part of a year)
            births = [
                dates[today - a - ((j * 365) >> 16)] for a, j in zip(pick(self.v.age_days, u16(rng, n)), u16(rng, n))
            ]
            phones = self.phones(rng, ddds, 0.8)
            streets, districts = pick(self.streets, u16(rng, n)), pick(self.districts, u16(rng, n))
            cut = int(0.6 * LUT_SIZE)
            cities = [c if k < cut else o for c, k, o in zip(capitals, u16(rng, n), pick(self.cities, u16(rng, n)))]
            numbers = [1 + ((x * 3999) >> 16) for x in u16(rng, n)]
            ceps = [(x * 100_000) >> 32 for x in u32(rng, n)]
            cep3 = [(x * 1000) >> 16 for x in u16(rng, n)]
            registered = clock.stamps(_offsets(rng, n, -3650 * DAY, 0))
            cpfs = self.cpfs(start, n)
            yield [
                f"{pk}\t{nome}\t{birth}\t{cpf}\t{phone}\t{street}, {num} - {district}, {city} - {uf}, "
                f"{c5:05d}-{c3:03d}\t{reg}\n"
                for pk, nome, birth, cpf, phone, street, num, district, city, uf, c5, c3, reg in zip(
                    range(start, start + n),
                    names,
                    births,
                    cpfs,
                    phones,
                    streets,
                    numbers,
                    districts,
                    cities,
                    ufs,
                    ceps,
                    cep3,
                    registered,
                )
            ]

    def medicos(self, rng: random.Random, count: int) -> Iterator[list[str]]:
        for start in range(1, count + 1, BLOCK):
            n = min(BLOCK, count + 1 - start)
            joint = u16(rng, n)
            ufs, ddds = pick(self.v.uf, joint), pick(self.v.ddd, joint)
            names = self.names(rng, n)
            specialties = pick(self.v.especialidades, u16(rng, n))
            phones = self.phones(rng, ddds, 0.5)
            yield [
                f"{pk}\t{nome}\t{brazil.crm_for_index(pk, uf)}\t{esp}\t{phone}\n"
                for pk, nome, uf, esp, phone in zip(range(start, start + n), names, ufs, specialties, phones)
            ]

    def pacientes_convenios(
        self, rng: random.Random, count: int, n_pacientes: int, convenio_ids: Sequence[int]
    ) -> Iterator[list[str]]:
        """``count`` distinct (paciente, convênio) pairs, in order: one pair drawn in each of
        ``count`` equal strata of the pair space (unique by construction, no set to keep)."""
        k = len(convenio_ids)
        space = n_pacientes * k
        if count > space:
            raise ValueError(f"{count} pairs requested from {n_pacientes} pacientes x {k} convenios")
        day = self.clock.day
        for start in range(0, count, BLOCK):
            n = min(BLOCK, count - start)
            pairs = []
            for j, x in zip(range(start, start + n), u32(rng, n)):
                low = j * space // count
                pairs.append(low + ((x * ((j + 1) * space // count - low)) >> 32))
            suffix = [(x * 100) >> 16 for x in u16(rng, n)]
            validity = [day(-365 + ((x * (4 * 365 + 1)) >> 32)) for x in u32(rng, n)]
            lines = []
            for pk, pair, s, v in zip(range(start + 1, start + n + 1), pairs, suffix, validity):
                paciente, c = divmod(pair, k)
                convenio = convenio_ids[c]
                lines.append(f"{pk}\t{paciente + 1}\t{convenio}\t{convenio:04d}{paciente + 1:010d}{s:02d}\t{v}\n")
            yield lines

    def consultas(self, rng: random.Random, count: int, n_pacientes: int, n_medicos: int) -> Iterator[list[str]]:
        when, names = self._consulta_when, CONSULTA_STATUS
        sizes = [len(w) for w in when]
        for start in range(1, count + 1, BLOCK):
            n = min(BLOCK, count + 1 - start)
            pacientes, medicos = below(rng, n, n_pacientes), below(rng, n, n_medicos)
            statuses = pick(self.v.status, u16(rng, n))
            moments = [when[s][(x * sizes[s]) >> 32] for s, x in zip(statuses, u32(rng, n))]
            motivos = pick(self.v.motivos_consulta, u16(rng, n))
            yield [
                f"{pk}\t{p + 1}\t{m + 1}\t{t}\t{motivo}\t{names[s]}\n"
                for pk, p, m, t, motivo, s in zip(
                    range(start, start + n), pacientes, medicos, moments, motivos, statuses
                )
            ]

    def exames(self, rng: random.Random, count: int, n_pacientes: int) -> Iterator[list[str]]:
        for start in range(1, count + 1, BLOCK):
            n = min(BLOCK, count + 1 - start)
            pacientes = below(rng, n, n_pacientes)
            tipos = pick(self.v.tipos_exame, u16(rng, n))
            offsets = _offsets(rng, n, -730 * DAY, 30 * DAY)
            stamps = self.clock.stamps(offsets)
            results = [r if o < 0 else NULL for r, o in zip(pick(self.v.resultados, u16(rng, n)), offsets)]
            yield [
                f"{pk}\t{p + 1}\t{tipo}\t{t}\t{r}\n"
                for pk, p, tipo, t, r in zip(range(start, start + n), pacientes, tipos, stamps, results)
            ]

    def internacoes(self, rng: random.Random, count: int, n_pacientes: int) -> Iterator[list[str]]:
        clock, cut = self.clock, int(DISCHARGED_SHARE * LUT_SIZE)
        for start in range(1, count + 1, BLOCK):
            n = min(BLOCK, count + 1 - start)
            pacientes = below(rng, n, n_pacientes)
            discharged = [x < cut for x in u16(rng, n)]
            ends = _offsets(rng, n, -365 * DAY, 0)  # discharge (or admission, when still admitted)
            stays = _offsets(rng, n, 43_200, 20 * DAY)
            # discharged: admitted ``stay`` before the discharge; still admitted: in the last 30 days
            starts = [e - s if d else -((-e * 30) // 365) for e, s, d in zip(ends, stays, discharged)]
            entradas = clock.stamps(starts)
            saidas = [s if d else NULL for s, d in zip(clock.stamps(ends), discharged)]
            motivos = pick(self.v.motivos_internacao, u16(rng, n))
            quartos = pick(self.v.quartos, u16(rng, n))
            yield [
                f"{pk}\t{p + 1}\t{e}\t{s}\t{motivo}\t{q}\n"
                for pk, p, e, s, motivo, q in zip(
                    range(start, start + n), pacientes, entradas, saidas, motivos, quartos
                )
            ]


def _dot(group: int, weights: tuple[int, int, int]) -> int:
    return (group // 100) * weights[0] + (group // 10 % 10) * weights[1] + (group % 10) * weights[2]


def _triangular_quantiles(low: float, high: float, mode: float) -> list[int]:
    """Age in days at each of 65,536 quantiles of a triangular(low, high, mode) in years."""
    c = (mode - low) / (high - low)
    rising, falling = (high - low) * (mode - low), (high - low) * (high - mode)
    quantiles = [(i + 0.5) / LUT_SIZE for i in range(LUT_SIZE)]
    return [int((low + sqrt(rising * u) if u < c else high - sqrt(falling * (1 - u))) * 365.25) for u in quantiles]
