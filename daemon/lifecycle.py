"""UPDATE events: rows move forward in their lifecycle, never back.

consulta agendada -> realizada/cancelada/faltou; exame result arrives; internação discharge;
paciente contact change; convênio renewal.
"""

from __future__ import annotations

from daemon import reports
from daemon.events import Change, EventContext, EventKind, pick_id, returning

# What happens to a scheduled appointment.
CONSULTA_OUTCOMES = ("realizada", "cancelada", "faltou")
CONSULTA_OUTCOME_WEIGHTS = (75, 15, 10)


def consulta_status(ctx: EventContext, cur) -> Change | None:
    pk = pick_id(cur, "consultas", "status = 'agendada'", ctx.rng)
    if pk is None:
        return None
    status = ctx.rng.choices(CONSULTA_OUTCOMES, CONSULTA_OUTCOME_WEIGHTS)[0]
    # Attended or missed appointments happened by now: an early one is pulled to the present.
    cur.execute(
        "UPDATE consultas SET status = %s, data = CASE WHEN %s = 'cancelada' THEN data ELSE LEAST(data, now()) END "
        "WHERE id = %s AND status = 'agendada' RETURNING id, txid_current()",
        (status, status, pk),
    )
    return returning(cur, "consultas", "update")


def exame_resultado(ctx: EventContext, cur) -> Change | None:
    pk = pick_id(cur, "exames", "resultado IS NULL", ctx.rng)
    if pk is None:
        return None
    cur.execute("SELECT tipo_exame FROM exames WHERE id = %s", (pk,))
    (tipo,) = cur.fetchone()
    if ctx.rng.random() < ctx.toast_share:
        text = reports.long_report(ctx.rng, tipo)
    else:
        text = reports.short_result(ctx.rng)
    cur.execute(
        "UPDATE exames SET resultado = %s, data = LEAST(data, now()) "
        "WHERE id = %s AND resultado IS NULL RETURNING id, txid_current()",
        (text, pk),
    )
    return returning(cur, "exames", "update")


def internacao_alta(ctx: EventContext, cur) -> Change | None:
    pk = pick_id(cur, "internacoes", "data_saida IS NULL", ctx.rng)
    if pk is None:
        return None
    cur.execute(
        "UPDATE internacoes SET data_saida = GREATEST(now(), data_entrada) "
        "WHERE id = %s AND data_saida IS NULL RETURNING id, txid_current()",
        (pk,),
    )
    return returning(cur, "internacoes", "update")


def paciente_contato(ctx: EventContext, cur) -> Change | None:
    pk = ctx.ids.pick("pacientes", ctx.rng)
    uf = ctx.data.uf()
    if ctx.rng.random() < 0.5:
        cur.execute(
            "UPDATE pacientes SET telefone = %s WHERE id = %s RETURNING id, txid_current()", (ctx.data.phone(uf), pk)
        )
    else:
        cur.execute(
            "UPDATE pacientes SET telefone = %s, endereco = %s WHERE id = %s RETURNING id, txid_current()",
            (ctx.data.phone(uf), ctx.data.address(uf), pk),
        )
    return returning(cur, "pacientes", "update")


def convenio_renovacao(ctx: EventContext, cur) -> Change | None:
    pk = pick_id(cur, "pacientes_convenios", "TRUE", ctx.rng)
    if pk is None:
        return None
    cur.execute(
        "UPDATE pacientes_convenios SET validade = (GREATEST(validade, current_date) + interval '1 year')::date "
        "WHERE id = %s RETURNING id, txid_current()",
        (pk,),
    )
    return returning(cur, "pacientes_convenios", "update")


UPDATES = (
    EventKind("consulta_status", "consultas", "update", (), consulta_status),
    EventKind("exame_resultado", "exames", "update", (), exame_resultado),
    EventKind("internacao_alta", "internacoes", "update", (), internacao_alta),
    EventKind("paciente_contato", "pacientes", "update", ("pacientes",), paciente_contato),
    EventKind("convenio_renovacao", "pacientes_convenios", "update", (), convenio_renovacao),
)
