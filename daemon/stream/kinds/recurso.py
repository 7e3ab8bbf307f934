"""``guia_recurso``: the hospital appeals a glosa (SCHEMA_EXTRAS=faturamento, STREAM_DDL_EVERY_SECONDS).

The status it uses, ``em_recurso``, does not exist when the stream starts: the schema changes add
it to the ``status_guia`` enum while streaming (``ALTER TYPE ... ADD VALUE``, step
``add_em_recurso`` of sql/ddl_steps.sql). Until the catalogue has it the kind does nothing, and
it is only drawn when schema changes run. Once the label exists, an appeal is a TISS *guia de
recurso de glosa*: one transaction (an episode of two changes, one statement) that moves a
glosada internação guia to ``em_recurso`` (an update) and files the appeal as a new guia of
``tipo_guia`` ``recurso_glosa`` for the refused amount, in ``em_recurso`` too (an insert), with
the appeal's argument in the auditor's note while that column exists. Internação guias only: a
consulta has one guia (``idx_faturamento_consulta``), an internação may have several. The pick
reads ``idx_faturamento_glosadas``.

Debezium then delivers a status its enum schema's ``allowed`` values do not list until the
connector restarts (it reads enum labels at start), which ``verify`` reports as a known loss.
"""

from __future__ import annotations

from daemon.data import auditoria
from daemon.data.guias import Guias
from daemon.stream.kinds.base import EventContext, EventKind, Statement, random_pick
from daemon.stream.kinds.faturamento import EXTRA, TABLE
from daemon.stream.kinds.shape import EM_RECURSO, OBSERVACAO, VERSAO_TISS

GLOSADA_INTERNACAO = "status = 'glosada' AND internacao_id IS NOT NULL"
TIPO = "recurso_glosa"
# The appeal copies what it appeals from the glosada guia ``g``: origin, convênio, authorisation,
# validity and items; it bills the refused amount.
COPIED = {
    "internacao_id": "g.internacao_id",
    "convenio_id": "g.convenio_id",
    "senha_autorizacao": "g.senha_autorizacao",
    "valor_total": "g.valor_glosado",
    "validade_inicio": "g.validade_inicio",
    "validade_fim": "g.validade_fim",
    "hora_autorizacao": "g.hora_autorizacao",
    "itens": "g.itens",
    "codigos_tuss": "g.codigos_tuss",
}


def guia_recurso(ctx: EventContext) -> Statement | None:
    shape = ctx.shape.current
    if EM_RECURSO not in shape.labels:
        return None
    columns = {"tipo_guia": f"'{TIPO}'", "status": f"'{EM_RECURSO}'", **COPIED}
    params: dict[str, object] = {"r": ctx.rng.random()}
    if shape.has(VERSAO_TISS):
        columns[VERSAO_TISS] = "%(versao_tiss)s"
        params["versao_tiss"] = Guias(ctx.rng).versao_tiss()
    if shape.has(OBSERVACAO):
        columns[OBSERVACAO] = "%(observacao)s"
        params["observacao"] = auditoria.recurso(ctx.rng)
    return Statement(
        "*",
        "episode",
        f"SELECT '{TABLE}' AS tbl, 'update' AS op, id FROM g UNION ALL SELECT '{TABLE}', 'insert', id FROM a",
        params,
        ctes=(
            f"{random_pick(TABLE, GLOSADA_INTERNACAO)}, "
            f"g AS (UPDATE {TABLE} f SET status = '{EM_RECURSO}' FROM pick "
            f"WHERE f.id = pick.id AND f.{GLOSADA_INTERNACAO} RETURNING f.*), "
            f"a AS (INSERT INTO {TABLE} ({', '.join(columns)}) SELECT {', '.join(columns.values())} FROM g "
            "RETURNING id)"
        ),
    )


RECURSO = (EventKind("guia_recurso", TABLE, "episode", (), guia_recurso, extra=EXTRA, ddl=True),)
