"""The seed's guias (SCHEMA_EXTRAS=faturamento): one per realised consulta and per internação.

Loaded after the seven tables, in the same transaction, from what they hold (so the count
follows SEED_SCALE): the seeded rows are read back in id order and each gets a guia whose status
depends on its age, like a real billing history: settled (mostly ``paga``, some ``glosada``)
when old, ``faturada`` or still ``aberta`` when recent; a patient still admitted has an open guia.
Reproducible: the rows read back and the table's ``random.Random`` decide everything.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from typing import cast

from daemon.data.copytext import NULL, escape
from daemon.data.guias import SUS_CNPJ, Guias
from daemon.pg import sqlfiles
from daemon.pg.connection import Cursor

TABLE = "faturamento"
COLUMNS = (
    "numero_guia",
    "tipo_guia",
    "consulta_id",
    "internacao_id",
    "convenio_id",
    "status",
    "senha_autorizacao",
    "valor_total",
    "valor_glosado",
    "fator_reajuste",
    "coparticipacao",
    "tempo_atendimento",
    "validade_inicio",
    "validade_fim",
    "hora_autorizacao",
    "itens",
    "codigos_tuss",
    "hash_xml",
    "urgencia",
)
BYTEA_HEX = "\\\\x"  # bytea's hex prefix, its backslash escaped for COPY
FETCH = 10_000  # origins read per round trip (a named cursor: a large seed is never held in memory)
# Status by age of the care billed (days before the seed's anchor): (max age, statuses, weights).
STATUS_BY_AGE = (
    (7, ("aberta", "faturada"), (60, 40)),
    (45, ("aberta", "faturada", "paga", "glosada"), (5, 45, 40, 10)),
    (None, ("faturada", "paga", "glosada"), (2, 85, 13)),
)


def copy_line(guia: dict[str, object]) -> str:
    """The COPY text line of a guia, in COLUMNS order: ``encode_row`` of its values (a unit test
    says so), written out per column, as the guias are most of a large seed's Python time. Only
    the JSON items can hold characters COPY escapes; codes, ids, numbers and dates cannot."""
    g = guia.get
    hash_xml = g("hash_xml")
    digest = NULL if not isinstance(hash_xml, bytes) else BYTEA_HEX + hash_xml.hex()
    codes = ",".join(cast(list[str], g("codigos_tuss")))
    return (
        f"{g('numero_guia')}\t{g('tipo_guia')}\t{_opt(g('consulta_id'))}\t{_opt(g('internacao_id'))}\t"
        f"{g('convenio_id')}\t{g('status')}\t{_opt(g('senha_autorizacao'))}\t{g('valor_total')}\t"
        f"{_opt(g('valor_glosado'))}\t{_opt(g('fator_reajuste'))}\t{_opt(g('coparticipacao'))}\t"
        f"{_opt(g('tempo_atendimento'))}\t{g('validade_inicio')}\t{g('validade_fim')}\t"
        f"{_opt(g('hora_autorizacao'))}\t{escape(str(g('itens')))}\t{{{codes}}}\t{digest}\t"
        f"{'t' if g('urgencia') else 'f'}\n"
    )


def _opt(value: object) -> object:
    return NULL if value is None else value


def status_for(rng: random.Random, age_days: float, admitted: bool) -> str:
    if admitted:
        return "aberta"  # billed at discharge
    for limit, statuses, weights in STATUS_BY_AGE:
        if limit is None or age_days <= limit:
            return rng.choices(statuses, weights)[0]
    raise AssertionError("the last age band has no limit")


def enabled(cur: Cursor) -> bool:
    """Whether the table exists (SCHEMA_EXTRAS=faturamento bootstrapped it)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    row = cur.fetchone()
    return bool(row and row[0])


def count_origins(cur: Cursor) -> int:
    cur.execute(
        "SELECT (SELECT count(*) FROM consultas WHERE status = 'realizada') + (SELECT count(*) FROM internacoes)"
    )
    row = cur.fetchone()
    return int(row[0]) if row else 0


def blocks(cur: Cursor, rng: random.Random, anchor: datetime) -> Iterator[list[str]]:
    """COPY lines (in COLUMNS order) of one guia per origin, a block per fetch."""
    guias = Guias(rng)
    cur.execute("SELECT id FROM convenios WHERE cnpj = %s", (SUS_CNPJ,))
    sus_row = cur.fetchone()
    sus = sus_row[0] if sus_row else None
    origins = cur.connection.cursor(name="seed_guias_origens")
    try:
        origins.execute(sqlfiles.load("seed_guias_origens"))
        while rows := origins.fetchmany(FETCH):
            lines = []
            for origem, pk, quando, alta, convenio in rows:
                if origem == "consulta":
                    guia = guias.aberta(guias.tipo_consulta(), quando)
                    guia["consulta_id"], guia["internacao_id"] = pk, None
                else:
                    guia = guias.aberta("internacao", quando, alta)
                    guia["consulta_id"], guia["internacao_id"] = None, pk
                guia["convenio_id"] = convenio
                age = ((anchor - (alta or quando)).total_seconds()) / 86_400
                status = status_for(rng, age, origem == "internacao" and alta is None)
                if status != "aberta":
                    guia = guias.fechada(guia, status, convenio == sus)
                lines.append(copy_line(guia))
            yield lines
    finally:
        origins.close()
