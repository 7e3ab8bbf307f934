"""Seed of ``sinais_vitais`` (SCHEMA_EXTRAS=sinais_vitais), after the seven tables, in the seed's
transaction: a few readings (2-6) per internação, at random moments of its stay (up to the
anchor for a patient still admitted), with the partitions of every month they fall in created
first. Nothing when the table does not exist (the extra is off)."""

from __future__ import annotations

import random
from datetime import datetime

from daemon.data.copytext import encode_row
from daemon.data.vitals import COLUMNS, reading
from daemon.pg import partitions
from daemon.pg.connection import Cursor
from daemon.pg.copy import copy_stream

TABLE = partitions.PARENT
READINGS = (2, 6)  # per internação, both included
BATCH = 10_000  # internações read, and their readings copied, at a time


def seed(cur: Cursor, rng: random.Random, anchor: datetime) -> dict[str, int]:
    """Readings for every internação; {table: rows} (empty when the extra is off)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    row = cur.fetchone()
    if row is None or not row[0]:
        return {}
    cur.execute("SELECT min(data_entrada) FROM internacoes")
    first = cur.fetchone()
    start = min(first[0], anchor) if first and first[0] is not None else anchor
    partitions.ensure(cur, [*partitions.months(start, anchor), *partitions.ahead(anchor)], "seed")
    loaded, last = 0, 0
    while True:  # COPY holds the connection: read a batch of stays, then copy its readings
        cur.execute(
            "SELECT id, data_entrada, data_saida FROM internacoes WHERE id > %s ORDER BY id LIMIT %s", (last, BATCH)
        )
        stays = cur.fetchall()
        if not stays:
            return {TABLE: loaded}
        lines = []
        for pk, entrada, saida in stays:
            end = max(min(saida or anchor, anchor), entrada)
            for moment in sorted(entrada + (end - entrada) * rng.random() for _ in range(rng.randint(*READINGS))):
                lines.append(encode_row((pk, moment, *reading(rng))))
        copy_stream(cur, TABLE, ("internacao_id", "medido_em", *COLUMNS), ["".join(lines).encode()])
        loaded += len(lines)
        last = stays[-1][0]
