"""UPDATE events: rows move forward in their lifecycle, never back.

consulta agendada -> realizada/cancelada/faltou; exame result arrives; internação discharge;
paciente contact change; convênio renewal.
"""

from __future__ import annotations

from daemon.cdc.ledger import Change
from daemon.data import laudos
from daemon.pg.connection import Cursor, fetch_one
from daemon.stream.kinds.base import EventContext, EventKind, pick_id, update_row

# The state each lifecycle update starts from (picked in it, and guarded by it in the UPDATE).
AGENDADA = "status = 'agendada'"
PENDING_RESULT = "resultado IS NULL"
ADMITTED = "data_saida IS NULL"
# What happens to a scheduled appointment.
CONSULTA_OUTCOMES = ("realizada", "cancelada", "faltou")
CONSULTA_OUTCOME_WEIGHTS = (75, 15, 10)


def consulta_status(ctx: EventContext, cur: Cursor) -> Change | None:
    pk = pick_id(cur, "consultas", AGENDADA, ctx.rng)
    if pk is None:
        return None
    status = ctx.rng.choices(CONSULTA_OUTCOMES, CONSULTA_OUTCOME_WEIGHTS)[0]
    # Attended or missed appointments happened by now: an early one is pulled to the present.
    when = "data" if status == "cancelada" else "LEAST(data, now())"
    return update_row(cur, "consultas", pk, f"status = %s, data = {when}", AGENDADA, (status,))


def exame_resultado(ctx: EventContext, cur: Cursor) -> Change | None:
    pk = pick_id(cur, "exames", PENDING_RESULT, ctx.rng)
    if pk is None:
        return None
    cur.execute("SELECT tipo_exame FROM exames WHERE id = %s", (pk,))
    tipo = str(fetch_one(cur)[0])
    if ctx.rng.random() < ctx.toast_share:
        text = laudos.long_report(ctx.rng, tipo)
    else:
        text = laudos.short_result(ctx.rng)
    return update_row(cur, "exames", pk, "resultado = %s, data = LEAST(data, now())", PENDING_RESULT, (text,))


def internacao_alta(ctx: EventContext, cur: Cursor) -> Change | None:
    pk = pick_id(cur, "internacoes", ADMITTED, ctx.rng)
    if pk is None:
        return None
    return update_row(cur, "internacoes", pk, "data_saida = GREATEST(now(), data_entrada)", ADMITTED)


def paciente_contato(ctx: EventContext, cur: Cursor) -> Change | None:
    pk = ctx.ids.pick("pacientes", ctx.rng)
    uf = ctx.data.uf()
    if ctx.rng.random() < 0.5:
        return update_row(cur, "pacientes", pk, "telefone = %s", params=(ctx.data.phone(uf),))
    return update_row(
        cur, "pacientes", pk, "telefone = %s, endereco = %s", params=(ctx.data.phone(uf), ctx.data.address(uf))
    )


def convenio_renovacao(ctx: EventContext, cur: Cursor) -> Change | None:
    pk = pick_id(cur, "pacientes_convenios", "TRUE", ctx.rng)
    if pk is None:
        return None
    return update_row(
        cur, "pacientes_convenios", pk, "validade = (GREATEST(validade, current_date) + interval '1 year')::date"
    )


UPDATES = (
    EventKind("consulta_status", "consultas", "update", (), consulta_status),
    EventKind("exame_resultado", "exames", "update", (), exame_resultado),
    EventKind("internacao_alta", "internacoes", "update", (), internacao_alta),
    EventKind("paciente_contato", "pacientes", "update", ("pacientes",), paciente_contato),
    EventKind("convenio_renovacao", "pacientes_convenios", "update", (), convenio_renovacao),
)
