"""Open lifecycles: rows waiting for the event that moves them on.

scheduled consultas (``agendadas``), pending exams (``pendentes``), results awaiting their
signature (``a_assinar``), open internações (``internados``), active convênio cards
(``carteiras``), cancelled consultas awaiting retention (``canceladas``), and signed exams that
retention may remove (``assinados``); with SCHEMA_EXTRAS=faturamento, guias opened and not
billed yet (``guias_abertas``) and billed and not settled yet (``guias_faturadas``). The default
weights balance each one's inflow and outflow (``daemon.catalogue``); random draws still make a
balanced pool wander like a random walk, which would empty a small pool in a long run. So the
stream steers: the weight of a kind that drains a pool is multiplied by ``size / size at start``
(at most 2), which pulls each pool back towards its starting size while the realized mix stays
the configured one on average.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from loguru import logger

from daemon.pg import sqlfiles
from daemon.pg.connection import Connection, fetch_one, transaction
from daemon.stream.kinds.base import EventKind

BACKLOGS = ("agendadas", "pendentes", "internados", "carteiras", "canceladas", "a_assinar", "assinados")
# Pools of the SCHEMA_EXTRAS tables, counted by sql/backlog_counts_<extra>.sql when the table exists:
# guias opened and not billed yet, guias billed and not settled yet.
EXTRA_BACKLOGS = {"faturamento": ("guias_abertas", "guias_faturadas")}
# Closed rows that retention thins out more slowly than they arrive: they may grow, and their
# retention is only slowed when they run low (never sped up, which would change the mix).
GROWING = frozenset({"assinados"})
MIN_TARGET = 20  # a pool that starts (nearly) empty is steered towards this many rows
MAX_FACTOR = 2.0  # a pool far above its target drains at most twice as fast as configured
UNBALANCED = 1.1  # outflow more than 10 % above inflow: the pool is reported as draining

log = logger.bind(channel="stream")


class Backlog:
    """Sizes of the open lifecycles, counted at start and moved by each committed change."""

    def __init__(self) -> None:
        self.size: dict[str, int] = dict.fromkeys(BACKLOGS, 0)
        self.start: dict[str, int] = dict.fromkeys(BACKLOGS, 0)
        self._factors: dict[str, float] = {}  # factor() of each pool since its size last moved
        self._lock = threading.Lock()  # writers share it

    def load(self, conn: Connection) -> None:
        with transaction(conn) as cur:
            cur.execute(sqlfiles.load("backlog_counts"))
            row = fetch_one(cur)
            size = {name: int(n) for name, n in zip(BACKLOGS, row)}
            for extra, names in EXTRA_BACKLOGS.items():
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (extra,))
                if fetch_one(cur)[0]:
                    cur.execute(sqlfiles.load(f"backlog_counts_{extra}"))
                    size.update((name, int(n)) for name, n in zip(names, fetch_one(cur)))
        self.size = size
        self.start = dict(self.size)
        self._factors = {}

    def factor(self, name: str) -> float:
        """How much more (or less) often than configured a kind draining ``name`` runs now (read at
        every draw: kept until the pool's size moves)."""
        factor = self._factors.get(name)
        if factor is None:
            with self._lock:  # not computed from a size another writer is moving
                target = max(self.start.get(name, 0), MIN_TARGET)
                factor = min(1.0 if name in GROWING else MAX_FACTOR, self.size.get(name, 0) / target)
                self._factors[name] = factor
        return factor

    def apply(self, changes: Mapping[str, int]) -> None:
        with self._lock:
            for name, delta in changes.items():
                self.size[name] = max(0, self.size.get(name, 0) + delta)
                self._factors.pop(name, None)

    def empty(self, name: str) -> None:
        """A pick found nothing: the pool is empty (or all of it locked) whatever we counted."""
        with self._lock:
            self.size[name] = 0
            self._factors.pop(name, None)


def unbalanced(shares: Iterable[tuple[EventKind, float]]) -> dict[str, tuple[float, float]]:
    """Pools whose configured outflow exceeds their inflow: name -> (inflow, outflow) in % of events."""
    inflow: dict[str, float] = dict.fromkeys(BACKLOGS, 0.0)
    outflow: dict[str, float] = dict.fromkeys(BACKLOGS, 0.0)
    for kind, share in shares:
        for name, flow in kind.flows.items():
            if flow > 0:
                inflow[name] = inflow.get(name, 0.0) + 100 * share * flow
            else:
                outflow[name] = outflow.get(name, 0.0) - 100 * share * flow
    return {n: (inflow.get(n, 0.0), out) for n, out in outflow.items() if out > UNBALANCED * inflow.get(n, 0.0)}


def warn_unbalanced(shares: Iterable[tuple[EventKind, float]]) -> None:
    """One warning per pool the configured weights will drain (stream.backlog_unbalanced)."""
    for name, (inflow, outflow) in unbalanced(shares).items():
        log.bind(
            event="stream.backlog_unbalanced", backlog=name, inflow=round(inflow, 2), outflow=round(outflow, 2)
        ).warning(
            "STREAM_*_WEIGHTS drain {backlog}: {outflow:.2f} % of events take rows out, {inflow:.2f} % bring rows in; "
            "the kinds that drain it will run less often than configured once it is low",
            backlog=name,
            inflow=inflow,
            outflow=outflow,
        )
