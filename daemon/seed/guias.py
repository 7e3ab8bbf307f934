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

from daemon.data.copytext import encode_row
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
FETCH = 10_000  # origins read per round trip (a named cursor: a large seed is never held in memory)
# Status by age of the care billed (days before the seed's anchor): (max age, statuses, weights).
STATUS_BY_AGE = (
    (7, ("aberta", "faturada"), (60, 40)),
    (45, ("aberta", "faturada", "paga", "glosada"), (5, 45, 40, 10)),
    (None, ("faturada", "paga", "glosada"), (2, 85, 13)),
)


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
                lines.append(encode_row([guia.get(column) for column in COLUMNS]))
            yield lines
    finally:
        origins.close()
