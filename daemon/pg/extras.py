"""Opt-in tables (SCHEMA_EXTRAS) for Debezium's sharp edges; the seven tables never change.

- ``faturamento``: TISS billing guides, the table of hard types (NUMERIC with NaN, MONEY,
  INTERVAL, infinity dates, TIMETZ, JSONB, arrays, UUID, an ENUM, BYTEA);
- ``fila_triagem``: a triage queue, emptied with TRUNCATE;
- ``sinais_vitais``: vital signs, partitioned by month.

Each is created by ``sql/extra_<name>.sql`` in the bootstrap transaction, after the seven tables
it references. Its table has the extra's name.
"""

from __future__ import annotations

from daemon.pg import sqlfiles
from daemon.pg.connection import Cursor


def create(cur: Cursor, extras: tuple[str, ...]) -> None:
    """Create what is missing of each extra (in the caller's bootstrap transaction)."""
    for name in extras:
        cur.execute(sqlfiles.load(f"extra_{name}"))
