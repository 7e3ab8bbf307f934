"""Clinical episodes: several changes on several tables in one transaction, as a hospital system
writes them. Each is one message: its changes are data-modifying CTEs of one statement, plus
(``then``) further statements sent in the same message when a row is touched twice, before its
Sync: one transaction.

- ``atendimento``: a scheduled consulta is attended and two exams are ordered for the paciente;
- ``admissao``: a consulta ends in an admission: the consulta is realizada, an internação opens
  and an admission exam is ordered;
- ``alta``: an internação is discharged and a follow-up consulta is scheduled;
- ``troca_convenio``: a paciente leaves a convênio for another; the new card is issued, then
  activated (the same row inserted and updated in one transaction).

``STREAM_EPISODE_FAILURE_SHARE`` of the admissions fail on purpose on their last change (the
internação violates its CHECK) and roll back: a pipeline must show nothing of them.
"""

from __future__ import annotations

from datetime import timedelta

from daemon.cdc.ledger import Change
from daemon.data import vocab
from daemon.stream.kinds.base import EventContext, EventKind, Statement, free_convenio, random_pick
from daemon.stream.kinds.updates import ADMITTED, AGENDADA

# How each change of an episode moves the open lifecycles (daemon.stream.backlog).
BACKLOG = {
    ("consultas", "update"): {"agendadas": -1},  # agendada -> realizada
    ("consultas", "insert"): {"agendadas": 1},  # scheduled
    ("exames", "insert"): {"pendentes": 1},  # ordered
    ("internacoes", "insert"): {"internados": 1},
    ("internacoes", "update"): {"internados": -1},  # discharged
    ("pacientes_convenios", "insert"): {"carteiras": 1},
    ("pacientes_convenios", "delete"): {"carteiras": -1},
}


def episode_backlog(changes: list[Change]) -> dict[str, int]:
    """How a committed episode moved the open lifecycles."""
    moved: dict[str, int] = {}
    for change in changes:
        for name, delta in BACKLOG.get((change.table, change.op), {}).items():
            moved[name] = moved.get(name, 0) + delta
    return moved


ATTENDED = (
    "c AS (UPDATE consultas c SET status = 'realizada', data = LEAST(c.data, now()) FROM pick "
    f"WHERE c.id = pick.id AND c.{AGENDADA} RETURNING c.id, c.paciente_id)"
)


def _exam(ctx: EventContext, n: int) -> dict[str, object]:
    return {f"tipo{n}": ctx.rng.choice(vocab.TIPOS_EXAME), f"quando{n}": ctx.data.moment(0, 7)}


def atendimento(ctx: EventContext) -> Statement:
    return Statement(
        "*",
        "episode",
        "SELECT 'consultas' AS tbl, 'update' AS op, id FROM c UNION ALL SELECT 'exames', 'insert', id FROM e",
        {"r": ctx.rng.random(), **_exam(ctx, 1), **_exam(ctx, 2)},
        floor="agendadas",
        ctes=(
            f"{random_pick('consultas', AGENDADA, floor='agendadas')}, {ATTENDED}, "
            "e AS (INSERT INTO exames (paciente_id, tipo_exame, data) SELECT c.paciente_id, v.tipo, v.quando "
            "FROM c, (VALUES (%(tipo1)s, %(quando1)s::timestamptz), (%(tipo2)s, %(quando2)s::timestamptz)) "
            "AS v (tipo, quando) RETURNING id)"
        ),
    )


def admissao(ctx: EventContext) -> Statement:
    fail = ctx.rng.random() < ctx.episode_failure_share
    # A failing admission is discharged a day before it starts: internacoes_datas_check says no.
    saida = "now() - interval '1 day'" if fail else "NULL"
    return Statement(
        "*",
        "episode",
        "SELECT 'consultas' AS tbl, 'update' AS op, id FROM c UNION ALL SELECT 'exames', 'insert', id FROM e "
        "UNION ALL SELECT 'internacoes', 'insert', id FROM i",
        {
            "r": ctx.rng.random(),
            "motivo": ctx.rng.choice(vocab.MOTIVOS_INTERNACAO),
            "quarto": f"{ctx.rng.randint(1, 9)}{ctx.rng.randint(1, 30):02d}-{ctx.rng.choice('AB')}",
            **_exam(ctx, 1),
        },
        floor="agendadas",
        ctes=(
            f"{random_pick('consultas', AGENDADA, floor='agendadas')}, {ATTENDED}, "
            "e AS (INSERT INTO exames (paciente_id, tipo_exame, data) SELECT c.paciente_id, %(tipo1)s, now() "
            "FROM c RETURNING id), "
            "i AS (INSERT INTO internacoes (paciente_id, data_entrada, data_saida, motivo, quarto) "
            f"SELECT c.paciente_id, now(), {saida}, %(motivo)s, %(quarto)s FROM c RETURNING id)"
        ),
        fails_on_purpose=fail,
    )


def alta(ctx: EventContext) -> Statement:
    return Statement(
        "*",
        "episode",
        "SELECT 'internacoes' AS tbl, 'update' AS op, id FROM i UNION ALL SELECT 'consultas', 'insert', id FROM f",
        {
            "r": ctx.rng.random(),
            "medico": ctx.ids.pick("medicos", ctx.rng),
            "retorno": ctx.data.moment(7, 30, business_hours=True) + timedelta(days=1),
        },
        floor="internados",
        ctes=(
            f"{random_pick('internacoes', ADMITTED, floor='internados')}, "
            "i AS (UPDATE internacoes i SET data_saida = GREATEST(now(), i.data_entrada) FROM pick "
            f"WHERE i.id = pick.id AND i.{ADMITTED} RETURNING i.id, i.paciente_id), "
            "f AS (INSERT INTO consultas (paciente_id, medico_id, data, motivo, status) "
            "SELECT i.paciente_id, %(medico)s, %(retorno)s, 'Retorno pós-alta', 'agendada' FROM i RETURNING id)"
        ),
    )


def troca_convenio(ctx: EventContext) -> Statement:
    numero, validade = ctx.data.carteira(0, 0)
    return Statement(
        "*",
        "episode",
        "SELECT 'pacientes_convenios' AS tbl, 'delete' AS op, id FROM d "
        "UNION ALL SELECT 'pacientes_convenios', 'insert', id FROM n",
        {
            "r": ctx.rng.random(),
            "numero": numero[14:],
            "start": ctx.rng.random(),
            "validade": max(validade, ctx.data.today),
        },
        # A random card is left for a convênio its holder does not have yet, both chosen first:
        # without a replacement, nothing changes. The new card number is built as carteira() does.
        ctes=(
            f"{random_pick('pacientes_convenios', 'TRUE')}, "
            "old AS (SELECT pc.id, pc.paciente_id, pc.convenio_id FROM pacientes_convenios pc, pick "
            "WHERE pc.id = pick.id), "
            # (the card left is one the paciente holds: never chosen as the new one)
            f"novo AS (SELECT c.id FROM old, LATERAL {free_convenio('old.paciente_id')} c), "
            "d AS (DELETE FROM pacientes_convenios pc USING old, novo WHERE pc.id = old.id RETURNING pc.id), "
            "n AS (INSERT INTO pacientes_convenios (paciente_id, convenio_id, numero_carteira, validade) "
            "SELECT old.paciente_id, novo.id, lpad(novo.id::text, greatest(4, length(novo.id::text)), '0') "
            "|| lpad(old.paciente_id::text, 10, '0') || %(numero)s, current_date FROM old, novo, d RETURNING id)"
        ),
        # Activation: the card inserted above gets its validity, in the same transaction.
        then=(
            "UPDATE pacientes_convenios pc SET validade = %(validade)s FROM episode "
            "WHERE episode.tbl = 'pacientes_convenios' AND episode.op = 'insert' AND pc.id = episode.id "
            "RETURNING 'pacientes_convenios'::text AS tbl, 'update'::text AS op, pc.id",
        ),
    )


EPISODES = (
    EventKind("atendimento", "*", "episode", ("pacientes",), atendimento, {"agendadas": -1, "pendentes": 2}),
    EventKind("admissao", "*", "episode", ("pacientes",), admissao, {"agendadas": -1, "pendentes": 1, "internados": 1}),
    EventKind("alta", "*", "episode", ("medicos",), alta, {"internados": -1, "agendadas": 1}),
    EventKind("troca_convenio", "*", "episode", ("convenios",), troca_convenio, {}),
)
