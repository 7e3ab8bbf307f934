"""Vital signs (``SCHEMA_EXTRAS=sinais_vitais``): a nurse charts a reading of an admitted patient.

The internação is picked through the index of open stays (``idx_internacoes_abertas``, partial on
``data_saida IS NULL``: see ``sql/02_indexes.sql``); the row lands in this month's partition of
the range-partitioned parent (``sinais_vitais_YYYY_MM``, created ahead of time by
``daemon.pg.partitions``). Debezium sees it under the partition's name, or the parent's with
``publish_via_partition_root`` (CDC_PUBLISH_VIA_PARTITION_ROOT); the ledger always names the parent.
"""

from __future__ import annotations

from daemon.data.vitals import COLUMNS, reading
from daemon.stream.kinds.base import EventContext, EventKind, Statement, random_pick
from daemon.stream.kinds.updates import ADMITTED


def sinal_vital(ctx: EventContext) -> Statement:
    values = dict(zip(COLUMNS, reading(ctx.rng)))
    return Statement(
        "sinais_vitais",
        "insert",
        f"INSERT INTO sinais_vitais (internacao_id, medido_em, {', '.join(COLUMNS)}) "
        f"SELECT pick.id, now(), {', '.join(f'%({c})s' for c in COLUMNS)} FROM pick RETURNING id",
        {"r": ctx.rng.random(), **values},
        ctes=random_pick("internacoes", ADMITTED, floor="internados"),
        floor="internados",
    )


SINAIS = (EventKind("sinal_vital", "sinais_vitais", "insert", ("pacientes",), sinal_vital, extra="sinais_vitais"),)
