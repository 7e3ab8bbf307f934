"""Guia events (SCHEMA_EXTRAS=faturamento): a TISS guia is opened, billed, then settled.

``guia_abertura`` opens a guia (``aberta``) for a recently realised consulta or an internação,
``guia_faturamento`` bills an open one (``faturada``: the SHA-256 of its TISS XML, the reajuste
factor, sometimes 'NaN', the coparticipação, an open-ended validity now and then) and
``guia_desfecho`` settles a billed one (``paga``, or ``glosada`` with the refused value).
With schema changes (STREAM_DDL_EVERY_SECONDS) they fill what the table gains as soon as it has
it (``daemon.stream.kinds.shape``): the TISS version of a new guia, the longer authorisation
codes once the column is widened, the auditor's note on a glosa while that column exists.

Each statement is built from a mapping of column -> SQL expression plus a parameter dict, so a
column added to ``faturamento`` at runtime is one more entry (``GuiaInsert.values`` /
``GuiaUpdate.sets``), not a rewritten string. The picks read the partial indexes of
sql/extra_faturamento.sql: a consulta realised last, not billed yet, through
``idx_consultas_realizadas``; an internação (several guias for a long stay: partial billing)
through its primary key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from daemon.data import auditoria
from daemon.data.guias import SUS_CNPJ, TISS_XML, Guias
from daemon.stream.kinds.base import EventContext, EventKind, Statement, random_pick
from daemon.stream.kinds.shape import OBSERVACAO, SENHA, SENHA_WIDTH, VERSAO_TISS

EXTRA = "faturamento"
TABLE = "faturamento"
ABERTA = "status = 'aberta'"
FATURADA = "status = 'faturada'"
INTERNACAO_SHARE = 0.3  # of the guias opened: for an internação (else a realised consulta)
CANDIDATES = 50  # the consultas realised last, among which one not billed yet is picked
GLOSADA_SHARE = 0.15  # of the guias settled: partly refused by the operadora
SUS = f"(SELECT id FROM convenios WHERE cnpj = '{SUS_CNPJ}')"
# The care billed (CTE ``origem``): its id, its patient (and the stay, for an internação).
# A consulta: one of the last CANDIDATES realised (idx_consultas_realizadas) not billed yet, at
# random; the seed billed every consulta it realised, so these are the stream's. A bounded walk:
# nothing (another kind is drawn) when they are all billed.
CONSULTA_RECENTE = (
    "origem AS (SELECT c.id, c.paciente_id FROM (SELECT id, paciente_id FROM consultas "
    f"WHERE status = 'realizada' ORDER BY updated_at DESC LIMIT {CANDIDATES}) c "
    "WHERE NOT EXISTS (SELECT 1 FROM faturamento f WHERE f.consulta_id = c.id) "
    "ORDER BY md5(c.id::text || %(salt)s) LIMIT 1)"
)
INTERNACAO = (
    "origem AS (SELECT i.id, i.paciente_id, i.data_saida - i.data_entrada AS tempo "
    "FROM internacoes i JOIN pick USING (id))"
)
TITULAR = (
    "coalesce((SELECT pc.convenio_id FROM pacientes_convenios pc WHERE pc.paciente_id = o.paciente_id "
    f"ORDER BY pc.id LIMIT 1), {SUS})"
)


@dataclass
class GuiaInsert:
    """``INSERT INTO faturamento (...) SELECT ... FROM origem o``: ``exprs`` are SQL over the
    origin row, ``values`` parameters (one placeholder each, named after its column)."""

    ctes: str
    exprs: dict[str, str]
    values: dict[str, object]
    params: dict[str, object] = field(default_factory=dict)

    def statement(self) -> Statement:
        columns = [*self.exprs, *self.values]
        select = [*self.exprs.values(), *(f"%({c})s" for c in self.values)]
        return Statement(
            TABLE,
            "insert",
            f"INSERT INTO {TABLE} ({', '.join(columns)}) SELECT {', '.join(select)} FROM origem o "
            "ON CONFLICT DO NOTHING RETURNING id",  # a consulta another writer has just billed: nothing
            {**self.params, **self.values},
            ctes=self.ctes,
            backlog={"guias_abertas": 1},
        )


@dataclass
class GuiaUpdate:
    """``UPDATE faturamento f SET <sets> FROM pick`` of a guia picked in state ``state``."""

    state: str
    sets: dict[str, str]  # column -> SQL expression (over ``f``, and %(name)s parameters)
    params: dict[str, object]
    backlog: dict[str, int]

    def statement(self) -> Statement:
        assignments = ", ".join(f"{c} = {e}" for c, e in self.sets.items())
        return Statement(
            TABLE,
            "update",
            f"UPDATE {TABLE} f SET {assignments} FROM pick WHERE f.id = pick.id AND f.{self.state} RETURNING f.id",
            self.params,
            ctes=random_pick(TABLE, self.state),
            backlog=self.backlog,
        )


def abertura(ctx: EventContext) -> GuiaInsert:
    guias, now = Guias(ctx.rng), datetime.now(UTC)
    if ctx.rng.random() < INTERNACAO_SHARE:
        row = guias.aberta("internacao", now, now + timedelta(days=ctx.rng.randint(1, 10)))
        ctes = f"{random_pick('internacoes', 'TRUE')}, {INTERNACAO}"
        exprs = {"internacao_id": "o.id", "tempo_atendimento": "o.tempo"}
        row.pop("tempo_atendimento")
        params: dict[str, object] = {"r": ctx.rng.random()}
    else:
        row = guias.aberta(guias.tipo_consulta(), now)
        ctes, exprs = CONSULTA_RECENTE, {"consulta_id": "o.id"}
        params = {"salt": str(ctx.rng.randrange(1 << 30))}
    row.pop("numero_guia")  # the column's default (gen_random_uuid())
    shape = ctx.shape.current  # what the schema changes (STREAM_DDL_EVERY_SECONDS) have added so far
    if shape.has(VERSAO_TISS):
        row[VERSAO_TISS] = guias.versao_tiss()
    if row["senha_autorizacao"] and (shape.width(SENHA) or 0) >= SENHA_WIDTH[1]:
        row["senha_autorizacao"] = guias.senha_longa()
    return GuiaInsert(ctes, {**exprs, "convenio_id": TITULAR}, row, params)


def guia_abertura(ctx: EventContext) -> Statement:
    return abertura(ctx).statement()


def faturamento(ctx: EventContext) -> GuiaUpdate:
    guias = Guias(ctx.rng)
    share = guias.coparticipacao_share(sus=False)
    return GuiaUpdate(
        ABERTA,
        {
            "status": "'faturada'",
            # the SHA-256 of the guia's TISS XML, composed from the row (daemon.data.guias.tiss_hash)
            "hash_xml": "sha256(convert_to(format(%(tiss_xml)s, f.numero_guia, f.tipo_guia, "
            "coalesce(f.senha_autorizacao, ''), f.valor_total), 'UTF8'))",
            "fator_reajuste": "%(fator_reajuste)s",
            "coparticipacao": f"(CASE WHEN f.convenio_id = {SUS} THEN 0 ELSE round(f.valor_total * %(copart)s, 2) END)"
            "::numeric::money",
            "validade_fim": "coalesce(%(validade_fim)s::date, f.validade_fim)",
        },
        {
            "r": ctx.rng.random(),
            "tiss_xml": TISS_XML,
            "fator_reajuste": guias.fator_reajuste(),
            "copart": share,
            "validade_fim": "infinity" if ctx.rng.random() < 0.15 else None,
        },
        {"guias_abertas": -1, "guias_faturadas": 1},
    )


def guia_faturamento(ctx: EventContext) -> Statement:
    return faturamento(ctx).statement()


def desfecho(ctx: EventContext) -> GuiaUpdate:
    params: dict[str, object] = {"r": ctx.rng.random()}
    if ctx.rng.random() < GLOSADA_SHARE:
        sets = {"status": "'glosada'", "valor_glosado": "round(f.valor_total * %(glosa)s, 2)"}
        params["glosa"] = Guias(ctx.rng).glosa_share()
        if ctx.shape.current.has(OBSERVACAO):  # the auditor's note, while the column exists
            sets[OBSERVACAO] = "%(observacao)s"
            params["observacao"] = auditoria.nota_glosa(ctx.rng)
    else:
        sets = {"status": "'paga'"}
    return GuiaUpdate(FATURADA, sets, params, {"guias_faturadas": -1})


def guia_desfecho(ctx: EventContext) -> Statement:
    return desfecho(ctx).statement()


FATURAMENTO = (
    EventKind("guia_abertura", TABLE, "insert", (), guia_abertura, {"guias_abertas": 1}, extra=EXTRA),
    EventKind(
        "guia_faturamento",
        TABLE,
        "update",
        (),
        guia_faturamento,
        {"guias_abertas": -1, "guias_faturadas": 1},
        extra=EXTRA,
    ),
    EventKind("guia_desfecho", TABLE, "update", (), guia_desfecho, {"guias_faturadas": -1}, extra=EXTRA),
)
