"""INSERT events: new pacientes, consultas, exames, internações and convênio enrolments."""

from __future__ import annotations

from daemon.cdc.ledger import Change
from daemon.pg import sqlfiles
from daemon.pg.connection import Cursor
from daemon.stream.kinds.base import EventContext, EventKind, insert_row, next_id, returning

ENROLMENT_ATTEMPTS = 3  # pacientes tried before giving up (one may already hold every convênio)


def insert_paciente(ctx: EventContext, cur: Cursor) -> Change:
    pk = next_id(cur, "pacientes")  # the CPF derives from the id: unique across replicas
    return insert_row(cur, "pacientes", ctx.data.paciente(pk))


def insert_consulta(ctx: EventContext, cur: Cursor) -> Change:
    row = ctx.data.consulta(0, ctx.ids.pick("pacientes", ctx.rng), ctx.ids.pick("medicos", ctx.rng))
    return insert_row(cur, "consultas", row, explicit_id=False)


def insert_exame(ctx: EventContext, cur: Cursor) -> Change:
    return insert_row(cur, "exames", ctx.data.exame(0, ctx.ids.pick("pacientes", ctx.rng)), explicit_id=False)


def insert_internacao(ctx: EventContext, cur: Cursor) -> Change:
    row = ctx.data.internacao(0, ctx.ids.pick("pacientes", ctx.rng))
    return insert_row(cur, "internacoes", row, explicit_id=False)


def enrol_convenio(ctx: EventContext, cur: Cursor) -> Change | None:
    """A paciente joins a convênio they do not have yet."""
    for _ in range(ENROLMENT_ATTEMPTS):
        paciente_id = ctx.ids.pick("pacientes", ctx.rng)
        cur.execute(sqlfiles.load("convenios_not_held"), (paciente_id,))
        candidates = [row[0] for row in cur.fetchall()]
        if not candidates:
            continue  # this paciente holds every convênio already
        convenio_id = ctx.rng.choice(candidates)
        numero, validade = ctx.data.carteira(paciente_id, convenio_id)
        validade = max(validade, ctx.data.today.replace(day=1))  # new cards are valid
        cur.execute(
            "INSERT INTO pacientes_convenios (paciente_id, convenio_id, numero_carteira, validade) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (paciente_id, convenio_id) DO NOTHING RETURNING id, txid_current()",
            (paciente_id, convenio_id, numero, validade),
        )
        change = returning(cur, "pacientes_convenios", "insert")
        if change is not None:
            return change
    return None


INSERTS = (
    EventKind("pacientes", "pacientes", "insert", (), insert_paciente),
    EventKind("consultas", "consultas", "insert", ("pacientes", "medicos"), insert_consulta),
    EventKind("exames", "exames", "insert", ("pacientes",), insert_exame),
    EventKind("internacoes", "internacoes", "insert", ("pacientes",), insert_internacao),
    EventKind("pacientes_convenios", "pacientes_convenios", "insert", ("pacientes", "convenios"), enrol_convenio),
)
