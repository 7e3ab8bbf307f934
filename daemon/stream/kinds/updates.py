"""UPDATE events: rows move forward in their lifecycle, never back.

consulta agendada -> realizada/cancelada/faltou; exame result arrives; its laudo is signed;
internação discharge; paciente contact change (sometimes the phone removed); convênio renewal.
Each picks its row and changes it in one statement; the UPDATE repeats the state the row was
picked in, so a row only ever moves forward.
"""

from __future__ import annotations

from daemon.data import laudos
from daemon.stream.kinds.base import EventContext, EventKind, Statement, random_pick

# The state each lifecycle update starts from (each has its partial index in sql/02_indexes.sql).
AGENDADA = "status = 'agendada'"
PENDING_RESULT = "resultado IS NULL"
ADMITTED = "data_saida IS NULL"
TO_SIGN = "resultado IS NOT NULL AND laudo_assinado_em IS NULL"
# A laudo this long is stored out of line (exames.resultado has STORAGE EXTERNAL and the row
# passes the ~2 kB TOAST threshold); short results (< 200 bytes) stay inline.
OUT_OF_LINE_BYTES = 2000
# Share of contact changes in which the patient removes the phone number (a value back to NULL).
PHONE_REMOVED_SHARE = 0.1
# What happens to a scheduled appointment.
CONSULTA_OUTCOMES = ("realizada", "cancelada", "faltou")
CONSULTA_OUTCOME_WEIGHTS = (75, 15, 10)
CANCELLED_SHARE = CONSULTA_OUTCOME_WEIGHTS[1] / sum(CONSULTA_OUTCOME_WEIGHTS)


def consulta_status(ctx: EventContext) -> Statement:
    status = ctx.rng.choices(CONSULTA_OUTCOMES, CONSULTA_OUTCOME_WEIGHTS)[0]
    # Attended or missed appointments happened by now: an early one is pulled to the present.
    when = "c.data" if status == "cancelada" else "LEAST(c.data, now())"
    return Statement(
        "consultas",
        "update",
        f"UPDATE consultas c SET status = %(status)s, data = {when} FROM pick "
        f"WHERE c.id = pick.id AND c.{AGENDADA} RETURNING c.id",
        {"status": status, "r": ctx.rng.random()},
        ctes=random_pick("consultas", AGENDADA, floor="agendadas"),
        floor="agendadas",
        backlog={"agendadas": -1, "canceladas": 1} if status == "cancelada" else {"agendadas": -1},
    )


def exame_resultado(ctx: EventContext) -> Statement:
    """The result arrives; a long laudo is headed by the exam's own type, read in the statement."""
    if ctx.rng.random() < ctx.toast_share:
        header, text = "'LAUDO DE ' || upper(e.tipo_exame) || ", laudos.long_report_body(ctx.rng)
    else:
        header, text = "", laudos.short_result(ctx.rng)
    return Statement(
        "exames",
        "update",
        f"UPDATE exames e SET resultado = {header}%(text)s, data = LEAST(e.data, now()) FROM pick "
        f"WHERE e.id = pick.id AND e.{PENDING_RESULT} RETURNING e.id",
        {"text": text, "r": ctx.rng.random()},
        ctes=random_pick("exames", PENDING_RESULT, floor="pendentes"),
        floor="pendentes",
        backlog={"pendentes": -1, "a_assinar": 1},
    )


def laudo_assinatura(ctx: EventContext) -> Statement:
    """The physician signs a laudo: another column of the exam changes, a long ``resultado`` not."""
    return Statement(
        "exames",
        "update",
        "UPDATE exames e SET laudo_assinado_em = GREATEST(now(), e.data) FROM pick "
        f"WHERE e.id = pick.id AND e.laudo_assinado_em IS NULL "
        f"RETURNING e.id, octet_length(e.resultado) > {OUT_OF_LINE_BYTES} AS toasted",
        {"r": ctx.rng.random()},
        ctes=random_pick("exames", TO_SIGN, floor="a_assinar"),
        floor="a_assinar",
        backlog={"a_assinar": -1, "assinados": 1},
        unchanged_toast="resultado",
    )


def internacao_alta(ctx: EventContext) -> Statement:
    return Statement(
        "internacoes",
        "update",
        "UPDATE internacoes i SET data_saida = GREATEST(now(), i.data_entrada) FROM pick "
        f"WHERE i.id = pick.id AND i.{ADMITTED} RETURNING i.id",
        {"r": ctx.rng.random()},
        ctes=random_pick("internacoes", ADMITTED, floor="internados"),
        floor="internados",
        backlog={"internados": -1},
    )


def paciente_contato(ctx: EventContext) -> Statement:
    pk = ctx.ids.pick("pacientes", ctx.rng)
    uf = ctx.data.uf()
    params: dict[str, object] = {"pk": pk, "telefone": ctx.data.phone(uf)}
    if ctx.rng.random() < PHONE_REMOVED_SHARE:
        params["telefone"] = None  # the patient no longer has a phone: the column goes back to NULL
    if ctx.rng.random() < 0.5:
        body = "UPDATE pacientes SET telefone = %(telefone)s WHERE id = %(pk)s RETURNING id"
    else:
        body = "UPDATE pacientes SET telefone = %(telefone)s, endereco = %(endereco)s WHERE id = %(pk)s RETURNING id"
        params["endereco"] = ctx.data.address(uf)
    return Statement("pacientes", "update", body, params)


def convenio_renovacao(ctx: EventContext) -> Statement:
    return Statement(
        "pacientes_convenios",
        "update",
        "UPDATE pacientes_convenios pc SET validade = (GREATEST(pc.validade, current_date) + interval '1 year')::date "
        "FROM pick WHERE pc.id = pick.id RETURNING pc.id",
        {"r": ctx.rng.random()},
        ctes=random_pick("pacientes_convenios", "TRUE"),
    )


UPDATES = (
    EventKind(
        "consulta_status", "consultas", "update", (), consulta_status, {"agendadas": -1, "canceladas": CANCELLED_SHARE}
    ),
    EventKind("exame_resultado", "exames", "update", (), exame_resultado, {"pendentes": -1, "a_assinar": 1}),
    EventKind("laudo_assinatura", "exames", "update", (), laudo_assinatura, {"a_assinar": -1, "assinados": 1}),
    EventKind("internacao_alta", "internacoes", "update", (), internacao_alta, {"internados": -1}),
    EventKind("paciente_contato", "pacientes", "update", ("pacientes",), paciente_contato),
    EventKind("convenio_renovacao", "pacientes_convenios", "update", (), convenio_renovacao),
)
