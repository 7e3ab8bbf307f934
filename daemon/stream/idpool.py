"""Known primary keys of the tables other rows point at, so foreign keys are always valid.

Loaded once when streaming starts and extended after each committed insert (the predecessor
kept an LRU of existence checks; this keeps the ids themselves and needs no query per event).
Referenced tables (pacientes, medicos, convenios) are never deleted from by the simulator.
"""

from __future__ import annotations

import random

from daemon.pg.connection import Connection, transaction

REFERENCED = ("pacientes", "medicos", "convenios")


class IdPool:
    def __init__(self) -> None:
        self._ids: dict[str, list[int]] = {table: [] for table in REFERENCED}

    def load(self, conn: Connection) -> None:
        with transaction(conn) as cur:
            for table in REFERENCED:
                cur.execute(f"SELECT id FROM {table} ORDER BY id")
                self._ids[table] = [row[0] for row in cur.fetchall()]

    def add(self, table: str, pk: int) -> None:
        if table in self._ids:
            self._ids[table].append(pk)

    def has(self, table: str) -> bool:
        return bool(self._ids[table])

    def pick(self, table: str, rng: random.Random) -> int:
        return rng.choice(self._ids[table])

    def size(self, table: str) -> int:
        return len(self._ids[table])
