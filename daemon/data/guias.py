"""TISS billing guides (guias) for SCHEMA_EXTRAS=faturamento: pure generators, no database.

A guia bills one realised consulta (a guia de consulta, or an SP/SADT guia for the exams asked
in it) or one internação. Its items are TUSS procedures ``{codigo, descricao, quantidade,
valor}`` (``valor``: the line's total), ``valor_total`` is their sum. The same generator feeds
the seed (COPY text) and the stream (statement parameters), so both write the same kinds of
values, including the hard ones: ``'NaN'`` reajuste factors, ``'infinity'`` validity, MONEY,
INTERVAL, TIMETZ at -03:00, JSONB, TEXT[] and a BYTEA SHA-256 of the guia's TISS XML.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import cast

from daemon.data.rows import BRT

# TISS versions: the one the guias already billed were sent in (versao_tiss's default, when the
# schema changes add the column), and the current one new guias mostly go out in.
TISS_ANTERIOR, TISS_ATUAL = "4.01.00", "4.02.00"
# TUSS (Terminologia Unificada da Saúde Suplementar) codes with a reference price in R$.
Tuss = tuple[str, str, Decimal]
CONSULTA_TUSS: Tuss = ("10101012", "Consulta em consultório (no horário normal ou preestabelecido)", Decimal("150"))
PRONTO_SOCORRO_TUSS: Tuss = ("10101039", "Consulta em pronto socorro", Decimal("180"))
VISITA_TUSS: Tuss = ("10102019", "Visita hospitalar (paciente internado)", Decimal("95"))
DIARIA_TUSS: Tuss = ("60000775", "Diária de apartamento", Decimal("620"))
DIARIA_UTI_TUSS: Tuss = ("60000813", "Diária de UTI adulto", Decimal("2300"))
EXAMES_TUSS: tuple[Tuss, ...] = (
    ("40304361", "Hemograma com contagem de plaquetas ou frações", Decimal("14.50")),
    ("40302040", "Glicose - pesquisa e/ou dosagem", Decimal("6.20")),
    ("40301630", "Creatinina - pesquisa e/ou dosagem", Decimal("6.80")),
    ("40316521", "TSH - hormônio tireoestimulante", Decimal("28")),
    ("40311210", "Rotina de urina (EAS)", Decimal("9.90")),
    ("40101010", "ECG convencional de até 12 derivações", Decimal("45")),
    ("40805026", "RX - Tórax - 2 incidências", Decimal("62")),
    ("40901122", "US - Abdome total", Decimal("190")),
    ("41001010", "TC - Crânio", Decimal("480")),
    ("40202666", "Endoscopia digestiva alta", Decimal("420")),
)
PROCEDIMENTOS_TUSS: tuple[Tuss, ...] = (
    ("31005497", "Colecistectomia por videolaparoscopia", Decimal("3800")),
    ("30715016", "Artroscopia de joelho", Decimal("2900")),
    ("31309127", "Cesariana", Decimal("2100")),
    ("30602246", "Drenagem de tórax", Decimal("950")),
)
TIPOS_GUIA = ("consulta", "sp_sadt", "internacao")
SP_SADT_SHARE = 0.2  # of the guias of a consulta: an SP/SADT guia for the exams asked in it
NAN_SHARE = 0.10  # reajuste not negotiated with the operadora: fator_reajuste 'NaN'
OPEN_ENDED_SHARE = 0.15  # open-ended authorisation: validade_fim 'infinity'
GLOSA_SHARE = (0.05, 0.6)  # a glosa refuses this share of the guia's value
# The TISS message whose SHA-256 is hash_xml. PostgreSQL's format() reads the same %s: the
# stream hashes it in SQL from the row, the seed in Python (tiss_hash), from the same text.
TISS_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><ans:mensagemTISS xmlns:ans="http://www.ans.gov.br/padroes/tiss/schemas">'
    "<ans:guia><ans:numeroGuiaPrestador>%s</ans:numeroGuiaPrestador><ans:tipoGuia>%s</ans:tipoGuia>"
    "<ans:senhaAutorizacao>%s</ans:senhaAutorizacao><ans:valorTotalGeral>%s</ans:valorTotalGeral></ans:guia>"
    "</ans:mensagemTISS>"
)
CENT = Decimal("0.01")
SUS_CNPJ = "00.394.544/0001-85"  # the SUS lookup convênio (sql/03_seed_lookups.sql)


def tiss_hash(numero_guia: str, tipo_guia: str, senha: str | None, valor_total: Decimal) -> bytes:
    return hashlib.sha256((TISS_XML % (numero_guia, tipo_guia, senha or "", valor_total)).encode()).digest()


def interval_text(seconds: int) -> str:
    """An INTERVAL literal, e.g. ``3 days 04:12:00`` (PostgreSQL's own output style)."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days} days {clock}" if days else clock


class Guias:
    """Guias from one random stream (the seed's ``random.Random`` for the table, or a writer's)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _item(self, entry: Tuss, quantidade: int = 1) -> dict[str, object]:
        codigo, descricao, preco = entry
        unit = (preco * Decimal(self.rng.uniform(0.8, 1.3))).quantize(CENT)
        return {"codigo": codigo, "descricao": descricao, "quantidade": quantidade, "valor": unit * quantidade}

    def tipo_consulta(self) -> str:
        return "sp_sadt" if self.rng.random() < SP_SADT_SHARE else "consulta"

    def itens(self, tipo: str, urgencia: bool, days: int) -> list[dict[str, object]]:
        rng = self.rng
        exams = rng.sample(EXAMES_TUSS, rng.randint(1, 4))
        if tipo == "consulta":
            return [self._item(PRONTO_SOCORRO_TUSS if urgencia else CONSULTA_TUSS)]
        if tipo == "sp_sadt":
            return [self._item(e, rng.choice((1, 1, 1, 2))) for e in exams]
        stay = max(days, 1)
        uti = rng.random() < 0.15
        items = [self._item(DIARIA_UTI_TUSS if uti else DIARIA_TUSS, stay), self._item(VISITA_TUSS, stay)]
        items += [self._item(e) for e in exams[: rng.randint(0, 3)]]
        if rng.random() < 0.4:
            items.append(self._item(rng.choice(PROCEDIMENTOS_TUSS)))
        return items

    def senha(self) -> str:
        """The operadora's authorisation code: 6 to 10 digits, sometimes after a letter or two."""
        rng = self.rng
        n = rng.randint(6, 10)
        digits = f"{rng.randrange(10**n):0{n}d}"
        prefix = rng.choice(("", "", "G", "SP")) if len(digits) < 10 else ""
        return prefix + digits

    def senha_longa(self) -> str:
        """The longer authorisation code operadoras moved to (once senha_autorizacao is widened):
        a letter prefix and 14 to 18 digits (16 to 20 characters)."""
        rng = self.rng
        n = rng.randint(14, 18)
        return rng.choice(("AU", "SP", "GI")) + f"{rng.randrange(10**n):0{n}d}"

    def versao_tiss(self) -> str:
        """The TISS version a new guia is sent in (once versao_tiss exists): mostly the current one."""
        return TISS_ANTERIOR if self.rng.random() < 0.2 else TISS_ATUAL

    def aberta(self, tipo: str, quando: datetime, alta: datetime | None = None) -> dict[str, object]:
        """The columns of a newly opened guia (``tipo`` one of TIPOS_GUIA) for care given at
        ``quando`` (an internação's admission, ``alta`` its discharge if any)."""
        rng = self.rng
        local = quando.astimezone(BRT)
        urgencia = rng.random() < (0.35 if tipo == "internacao" else 0.08)
        seconds: int | None
        if tipo == "internacao":
            seconds = int((alta - quando).total_seconds()) if alta else None
        else:
            seconds = rng.randrange(600, 3600) if tipo == "consulta" else rng.randrange(1200, 10_800)
        itens = self.itens(tipo, urgencia, (seconds or rng.randrange(86_400, 10 * 86_400)) // 86_400)
        total = sum((cast(Decimal, i["valor"]) for i in itens), Decimal("0.00"))
        authorised = tipo != "consulta" or rng.random() < 0.3
        second = (local.hour * 3600 + local.minute * 60 + local.second - 60 * rng.randrange(5, 240)) % 86_400
        hora = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}-03:00"  # authorised before
        inicio = local.date()
        return {
            "numero_guia": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "tipo_guia": tipo,
            "status": "aberta",
            "senha_autorizacao": self.senha() if authorised else None,
            "valor_total": total,
            "tempo_atendimento": None if seconds is None else interval_text(seconds),
            "validade_inicio": inicio,
            "validade_fim": self.validade_fim(inicio, tipo),
            "hora_autorizacao": hora if authorised else None,
            "itens": json.dumps([{**i, "valor": float(i["valor"])} for i in itens], ensure_ascii=False),  # type: ignore[arg-type]
            "codigos_tuss": list(dict.fromkeys(str(i["codigo"]) for i in itens)),
            "urgencia": urgencia,
        }

    def validade_fim(self, inicio: date, tipo: str) -> date | str:
        if self.rng.random() < OPEN_ENDED_SHARE:
            return "infinity"
        return inicio + timedelta(days=60 if tipo == "internacao" else 30)

    def fator_reajuste(self) -> Decimal:
        """Unconstrained NUMERIC: 'NaN' when not negotiated, else a factor of 2 to 6 decimals."""
        if self.rng.random() < NAN_SHARE:
            return Decimal("NaN")
        places = self.rng.randint(2, 6)
        return Decimal(self.rng.uniform(0.95, 1.15)).quantize(Decimal(1).scaleb(-places))

    def coparticipacao_share(self, sus: bool) -> Decimal:
        """The share of the guia the patient pays (none under SUS)."""
        return Decimal(0) if sus else Decimal(self.rng.choice((0, 0, 10, 20, 30))) / 100

    def glosa_share(self) -> Decimal:
        return Decimal(self.rng.uniform(*GLOSA_SHARE)).quantize(Decimal("0.0001"))

    def fechada(self, guia: dict[str, object], status: str, sus: bool) -> dict[str, object]:
        """``guia`` billed (``faturada``) and possibly settled (``paga``/``glosada``): the seed's
        history, with the values the stream sets in ``guia_faturamento``/``guia_desfecho``."""
        total = guia["valor_total"]
        assert isinstance(total, Decimal)
        senha = guia["senha_autorizacao"]
        out = dict(guia, status=status)
        out["hash_xml"] = tiss_hash(str(guia["numero_guia"]), str(guia["tipo_guia"]), str(senha or ""), total)
        out["fator_reajuste"] = self.fator_reajuste()
        out["coparticipacao"] = (total * self.coparticipacao_share(sus)).quantize(CENT)
        if status == "glosada":
            out["valor_glosado"] = (total * self.glosa_share()).quantize(CENT)
        return out
