"""DELETE events: convênio cancellations, retention of cancelled consultas and of signed exams.

Only rows nothing references are deleted (pacientes, medicos and convenios never are), so
``ON DELETE RESTRICT`` never fires. Each picks its row and deletes it in one statement.
"""

from __future__ import annotations

from daemon.stream.kinds.base import EventContext, EventKind, Statement, random_pick

# Cancelled consultas, oldest cancellation first (idx_consultas_cancelamento).
CANCELLED = "status = 'cancelada'"
TIME_START = "-infinity 0"  # an oldest-first pick's floor before it has one: the index's start
ISO_UTC = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'  # to_char's pattern of a floor time


def convenio_cancelamento(ctx: EventContext) -> Statement:
    return Statement(
        "pacientes_convenios",
        "delete",
        "DELETE FROM pacientes_convenios pc USING pick WHERE pc.id = pick.id RETURNING pc.id",
        {"r": ctx.rng.random()},
        ctes=random_pick("pacientes_convenios", "TRUE"),
        backlog={"carteiras": -1},
    )


def oldest_pick(table: str, state: str, since: str) -> str:
    """A CTE ``pick`` holding the row of ``table`` in ``state`` whose ``since`` is oldest (ties: the
    smallest id), once it is STREAM_RETENTION_DAYS (``%(days)s``) old, through the index on
    ``(since, id)`` made for that state; locked.

    The search starts at ``%(_floor)s``, the ``since`` and id of the writer's last pick
    (``Floors``), and a CTE ``bound`` returns the picked row's for the next one: rows leave in
    ``(since, id)`` order and enter at now, so below the floor lie the entries of deleted rows,
    which the index keeps until vacuum (the id matters: a seed writes one ``updated_at`` for all
    its rows). The floor is ``<time> <id>``, the time in ISO 8601, in UTC, to the microsecond:
    read back the same whatever the session's DateStyle and TimeZone.
    """
    floor = "(split_part(%(_floor)s, ' ', 1)::timestamptz, split_part(%(_floor)s, ' ', 2)::bigint)"
    return (
        f"pick AS (SELECT id, {since} AS since FROM {table} WHERE {state} "
        f"AND {since} <= now() - make_interval(days => %(days)s) AND ({since}, id) >= {floor} "
        f"ORDER BY {since}, id LIMIT 1 FOR UPDATE SKIP LOCKED), "
        f"bound AS (SELECT {floor_of('since')} AS lo FROM pick)"
    )


def floor_of(since: str) -> str:
    """The SQL of an oldest-first pick's floor from a row's ``since`` and id: ``<time> <id>``."""
    return f"to_char({since} AT TIME ZONE 'UTC', '{ISO_UTC}') || ' ' || id"


def consulta_retencao(ctx: EventContext) -> Statement:
    """The consulta cancelled longest ago is removed once STREAM_RETENTION_DAYS have passed."""
    return Statement(
        "consultas",
        "delete",
        "DELETE FROM consultas c USING pick WHERE c.id = pick.id AND c.status = 'cancelada' RETURNING c.id",
        {"days": ctx.retention_days},
        ctes=oldest_pick("consultas", CANCELLED, "updated_at"),
        backlog={"canceladas": -1},
        floor="canceladas",
        floor_start=TIME_START,
        floor_kept_when_empty=True,
    )


def exame_retencao(ctx: EventContext) -> Statement:
    """The exam signed longest ago is removed once STREAM_RETENTION_DAYS have passed (with its laudo)."""
    return Statement(
        "exames",
        "delete",
        "DELETE FROM exames e USING pick WHERE e.id = pick.id RETURNING e.id",
        {"days": ctx.retention_days},
        ctes=oldest_pick("exames", "laudo_assinado_em IS NOT NULL", "laudo_assinado_em"),
        backlog={"assinados": -1},
        floor="assinados",
        floor_start=TIME_START,
        floor_kept_when_empty=True,
    )


DELETES = (
    EventKind("convenio_cancelamento", "pacientes_convenios", "delete", (), convenio_cancelamento, {"carteiras": -1}),
    EventKind("consulta_retencao", "consultas", "delete", (), consulta_retencao, {"canceladas": -1}),
    EventKind("exame_retencao", "exames", "delete", (), exame_retencao, {"assinados": -1}),
)
