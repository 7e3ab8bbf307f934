"""The event mix: operation weights times the weights inside each operation class."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Collection

from daemon.config import StreamSettings
from daemon.stream.backlog import Backlog
from daemon.stream.idpool import IdPool
from daemon.stream.kinds.base import EventKind
from daemon.stream.kinds.deletes import DELETES
from daemon.stream.kinds.episodes import EPISODES
from daemon.stream.kinds.faturamento import FATURAMENTO
from daemon.stream.kinds.inserts import INSERTS
from daemon.stream.kinds.messages import MESSAGES
from daemon.stream.kinds.recurso import RECURSO
from daemon.stream.kinds.sinais import SINAIS
from daemon.stream.kinds.triagem import TRIAGEM
from daemon.stream.kinds.updates import UPDATES

CATALOGUE = {"insert": INSERTS, "update": UPDATES, "delete": DELETES, "episode": EPISODES}
# Kinds weighted by STREAM_EXTRA_WEIGHTS (on STREAM_OP_WEIGHTS' scale): events on the SCHEMA_EXTRAS
# tables, drawn only when their extra is on, and logical decoding messages.
EXTRA_KINDS: tuple[EventKind, ...] = (*FATURAMENTO, *RECURSO, *TRIAGEM, *SINAIS, *MESSAGES)


class EventMix:
    def __init__(self, settings: StreamSettings) -> None:
        inner = {
            "insert": settings.insert_weights,
            "update": settings.update_weights,
            "delete": settings.delete_weights,
            "episode": settings.episode_weights,
        }
        self.weighted: list[tuple[EventKind, float]] = []
        for op, kinds in CATALOGUE.items():
            op_weight = settings.op_weights.get(op, 0.0)
            total = sum(inner[op].values())
            for kind in kinds:
                weight = op_weight * inner[op].get(kind.name, 0.0) / total if total else 0.0
                if weight > 0:
                    self.weighted.append((kind, weight))
        for kind in EXTRA_KINDS:
            weight = settings.extra_weights.get(kind.name, 0.0)
            if kind.ddl and not settings.ddl_every_seconds:
                continue
            if weight > 0 and (kind.extra is None or kind.extra in settings.extras):
                self.weighted.append((kind, weight))
        self._entries = [(kind, weight, kind.drains) for kind, weight in self.weighted]
        self._possible: set[EventKind] = set()  # referenced tables are never emptied: possible stays possible

    def choose(
        self, rng: random.Random, ids: IdPool, exclude: Collection[EventKind] = (), backlog: Backlog | None = None
    ) -> EventKind | None:
        """A kind drawn by weight among those possible now (None when nothing is).

        With a ``backlog``, a kind that drains an open lifecycle is weighted by how full it is
        (``Backlog.factor``), which keeps every pool near its starting size.
        """
        kinds: list[EventKind] = []
        cumulative: list[float] = []
        total = 0.0
        for kind, weight, drains in self._entries:
            if exclude and kind in exclude:
                continue
            if kind not in self._possible and not self._is_possible(kind, ids):
                continue
            if drains is not None and backlog is not None:
                weight *= backlog.factor(drains)
                if weight <= 0:
                    continue
            kinds.append(kind)
            total += weight
            cumulative.append(total)
        if not kinds:
            return None
        # What rng.choices(kinds, weights) does, without building the lists twice: same draw, same kind.
        return kinds[bisect(cumulative, rng.random() * total, 0, len(kinds) - 1)]

    def _is_possible(self, kind: EventKind, ids: IdPool) -> bool:
        if kind in self._possible:
            return True
        if kind.possible(ids):
            self._possible.add(kind)
            return True
        return False

    @property
    def inserts_only(self) -> bool:
        """Nothing but inserts on the seven tables (the predecessor's mix): no event ever moves one
        of their rows on. The opt-in kinds (STREAM_EXTRA_WEIGHTS) do not count."""
        core = [kind for kind, _ in self.weighted if kind not in EXTRA_KINDS]
        return bool(core) and all(kind.op == "insert" for kind in core)

    def kind_shares(self) -> list[tuple[EventKind, float]]:
        """Each kind with its configured share of all events (0-1)."""
        total = sum(w for _, w in self.weighted)
        return [(k, w / total) for k, w in self.weighted]

    def shares(self) -> dict[str, float]:
        total = sum(w for _, w in self.weighted)
        return {f"{k.op}:{k.name}": round(w / total, 4) for k, w in self.weighted}
