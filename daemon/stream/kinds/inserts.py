"""INSERT events: new pacientes, consultas, exames, internações and convênio enrolments.

Each is one statement. A paciente's id comes from its sequence inside the statement and its CPF
from the id (``hospital_sim_cpf``, the seed's own permutation), so CPFs stay unique across
replicas without a round trip for ``nextval``.
"""

from __future__ import annotations

from daemon.data.rows import COLUMNS
from daemon.stream.kinds.base import EventContext, EventKind, Statement, free_convenio


def insert_generated(table: str, row: tuple[object, ...], opens: str | None) -> Statement:
    """INSERT a generated row (its id left to the sequence); ``opens`` names the open lifecycle
    the new row joins, if it does (a historical row may be born closed)."""
    columns = COLUMNS[table][1:]
    return Statement(
        table,
        "insert",
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(f'%({c})s' for c in columns)}) RETURNING id",
        dict(zip(columns, row[1:])),
        backlog={opens: 1} if opens else {},
    )


def insert_paciente(ctx: EventContext) -> Statement:
    _, nome, nascimento, _, telefone, endereco, cadastro = ctx.data.paciente(0)
    return Statement(
        "pacientes",
        "insert",
        "INSERT INTO pacientes (id, nome, nascimento, cpf, telefone, endereco, data_cadastro) "
        "SELECT n.id, %(nome)s, %(nascimento)s, hospital_sim_cpf(n.id), %(telefone)s, %(endereco)s, %(cadastro)s "
        "FROM (SELECT nextval('pacientes_id_seq'::regclass) AS id) n RETURNING id",
        {"nome": nome, "nascimento": nascimento, "telefone": telefone, "endereco": endereco, "cadastro": cadastro},
    )


def insert_consulta(ctx: EventContext) -> Statement:
    status = "agendada" if ctx.lifecycle_start else None
    row = ctx.data.consulta(0, ctx.ids.pick("pacientes", ctx.rng), ctx.ids.pick("medicos", ctx.rng), status)
    return insert_generated("consultas", row, "agendadas" if row[-1] == "agendada" else None)


def insert_exame(ctx: EventContext) -> Statement:
    row = ctx.data.exame(0, ctx.ids.pick("pacientes", ctx.rng), ordered=ctx.lifecycle_start)
    return insert_generated("exames", row, "pendentes" if row[-1] is None else None)


def insert_internacao(ctx: EventContext) -> Statement:
    row = ctx.data.internacao(0, ctx.ids.pick("pacientes", ctx.rng), admitted=ctx.lifecycle_start)
    return insert_generated("internacoes", row, "internados" if row[3] is None else None)


def enrol_convenio(ctx: EventContext) -> Statement:
    """A paciente joins a convênio they do not hold yet (none: the paciente holds them all)."""
    paciente_id = ctx.ids.pick("pacientes", ctx.rng)
    numero, validade = ctx.data.carteira(paciente_id, 0)
    validade = max(validade, ctx.data.today.replace(day=1))  # new cards are valid
    return Statement(
        "pacientes_convenios",
        "insert",
        # The card number starts with the convênio id (carteira() formats it the same way).
        "INSERT INTO pacientes_convenios (paciente_id, convenio_id, numero_carteira, validade) "
        "SELECT %(paciente)s, c.id, lpad(c.id::text, greatest(4, length(c.id::text)), '0') || %(numero)s, "
        f"%(validade)s FROM {free_convenio('%(paciente)s')} c "
        "ON CONFLICT (paciente_id, convenio_id) DO NOTHING RETURNING id",
        {"paciente": paciente_id, "numero": numero[4:], "validade": validade, "start": ctx.rng.random()},
        backlog={"carteiras": 1},
    )


INSERTS = (
    EventKind("pacientes", "pacientes", "insert", (), insert_paciente),
    EventKind("consultas", "consultas", "insert", ("pacientes", "medicos"), insert_consulta, {"agendadas": 1}),
    EventKind("exames", "exames", "insert", ("pacientes",), insert_exame, {"pendentes": 1}),
    EventKind("internacoes", "internacoes", "insert", ("pacientes",), insert_internacao, {"internados": 1}),
    EventKind(
        "pacientes_convenios",
        "pacientes_convenios",
        "insert",
        ("pacientes", "convenios"),
        enrol_convenio,
        {"carteiras": 1},
    ),
)
