"""``guia_recurso``: the hospital appeals a glosa (SCHEMA_EXTRAS=faturamento, STREAM_DDL_EVERY_SECONDS).

The status it sets, ``em_recurso``, does not exist when the stream starts: the schema changes add
it to the ``status_guia`` enum while streaming (``ALTER TYPE ... ADD VALUE``, step
``add_em_recurso`` of sql/ddl_steps.sql). Until the catalogue has it the kind does nothing, and
it is only drawn when schema changes run. Once the label exists, a glosada guia (picked through
``idx_faturamento_glosadas``) moves to ``em_recurso``, with the appeal's argument in the auditor's
note while that column exists. Debezium then delivers a status its enum schema's ``allowed``
values may not list yet (its type registry is read at connector start), which ``verify`` reports.
"""

from __future__ import annotations

from daemon.data import auditoria
from daemon.stream.kinds.base import EventContext, EventKind, Statement
from daemon.stream.kinds.faturamento import EXTRA, GLOSADA, TABLE, GuiaUpdate
from daemon.stream.kinds.shape import EM_RECURSO, OBSERVACAO


def recurso(ctx: EventContext) -> GuiaUpdate | None:
    shape = ctx.shape.current
    if EM_RECURSO not in shape.labels:
        return None
    sets = {"status": f"'{EM_RECURSO}'"}
    params: dict[str, object] = {"r": ctx.rng.random()}
    if shape.has(OBSERVACAO):
        sets[OBSERVACAO] = "%(observacao)s"
        params["observacao"] = auditoria.recurso(ctx.rng)
    return GuiaUpdate(GLOSADA, sets, params, {})


def guia_recurso(ctx: EventContext) -> Statement | None:
    update = recurso(ctx)
    return None if update is None else update.statement()


RECURSO = (EventKind("guia_recurso", TABLE, "update", (), guia_recurso, extra=EXTRA, ddl=True),)
