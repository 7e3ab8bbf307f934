"""Stream events: the types every event shares.

An event kind builds one data-modifying SQL statement (``Statement``) from generated data, or
returns None when there is nothing it can do. The writer sends it as one message (one
transaction, pipelined behind the events before it): a pick ("a row in state X", through an
index made for that state) and the change it makes are combined with CTEs. Every statement returns
the changed row's id; the writer adds ``txid_current()`` so the ledger can match Debezium's
``source.txId``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from daemon.data.rows import HospitalData
from daemon.stream.idpool import IdPool
from daemon.stream.kinds.shape import ShapeCache

OPS = ("insert", "update", "delete")
FLOOR_RENEW = 256  # picks of a state between two searches of its smallest key from the index's start


class Floors:
    """Per state a pick reads (``Statement.floor``), the smallest key in it the writer's last pick
    of that state saw (an id; for the oldest-first picks, the time they order by and the id), as
    the server wrote it: the next pick searches from there, not through the entries that rows
    which left the state keep at the start of its index until vacuum. Every ``FLOOR_RENEW`` picks
    of a state, and after one that found nothing (unless ``keep``), the floor is dropped and the
    search starts from the index's start again: a row that entered the state below the floor
    (where rows enter by an update: an exam whose result came) waits that many picks at most.

    Picks are in flight when a floor is dropped: each message carries the ``epoch`` its floor was
    read in (:meth:`epoch`), and what a message sent before the drop saw is not learned (it
    searched from the old floor, and would put it back)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self._picks: Counter[str] = Counter()
        self._epochs: Counter[str] = Counter()

    def get(self, state: str, start: str = "0") -> str:
        """The floor of ``state``; ``start`` (the index's start) when there is none."""
        return self.seen.get(state, start)

    def epoch(self, state: str) -> int:
        """How many times the floor of ``state`` was dropped: a pick sent now searched from this one."""
        return self._epochs[state]

    def learn(self, state: str, floor: str | None, epoch: int, keep: bool = False) -> None:
        """A pick of ``state`` sent in ``epoch`` saw ``floor`` (None: it found nothing; ``keep``:
        that says nothing against the floor, as when rows only enter the state above it)."""
        self._picks[state] += 1
        if self._picks[state] % FLOOR_RENEW == 0:
            self._drop(state)
        elif epoch != self._epochs[state]:
            return  # sent before the floor was dropped
        elif floor is not None:
            self.seen[state] = floor
        elif not keep:
            self._drop(state)

    def _drop(self, state: str) -> None:
        self.seen.pop(state, None)
        self._epochs[state] += 1


@dataclass
class EventContext:
    """What an event needs: generators anchored at 'now', the ids it may reference, settings.

    ``lifecycle_start``: rows born in the stream start where their life starts (a consulta is
    scheduled, an exam pending, an internação open). Off for an insert-only mix, which then
    reproduces the predecessor's distributions (nothing would ever move those rows forward).
    """

    data: HospitalData
    ids: IdPool
    rng: random.Random
    retention_days: int = 0
    toast_share: float = 0.25
    lifecycle_start: bool = True
    episode_failure_share: float = 0.0
    message_prefix: str = "hospital-sim"  # STREAM_MESSAGE_PREFIX
    # SCHEMA_EXTRAS=faturamento: the table's current shape, which schema changes move on
    shape: ShapeCache = field(default_factory=ShapeCache)
    floors: Floors = field(default_factory=Floors)

    def refresh_clock(self) -> None:
        self.data.retarget(datetime.now(UTC))


@dataclass(frozen=True)
class Statement:
    """One event's SQL: ``WITH <ctes> <body>``, where body modifies one row of ``table``.

    ``body`` ends in ``RETURNING <row>.id``. ``backlog`` says how the committed change moves the
    open lifecycles (``daemon.stream.backlog``), e.g. ``{"agendadas": -1, "canceladas": 1}``.
    """

    table: str
    op: str
    body: str
    params: Mapping[str, object]
    ctes: str = ""
    backlog: Mapping[str, int] = field(default_factory=dict)
    # A column the change leaves as it is; ``body`` then also returns a boolean ``toasted``: whether
    # the row holds that column out of line (the ledger marks it for Debezium's placeholder).
    unchanged_toast: str | None = None
    # Episodes (op ``episode``): ``body`` selects ``tbl, op, id`` of every change made by the CTEs;
    # ``then`` holds statements sent after it in the same message (same transaction), each a
    # data-modifying statement ``RETURNING tbl, op, id`` that may read the changes so far as
    # ``episode``. ``fails_on_purpose``: the episode is built to violate a constraint and roll back.
    then: tuple[str, ...] = ()
    fails_on_purpose: bool = False
    # A statement that cannot be a CTE (``TRUNCATE``, say, or a logical decoding message's
    # ``SELECT``): ``body`` is sent as it is, followed in the same message (same transaction) by
    # the writer's mark and ledger row (``daemon.stream.writer.compose_plain``); the change has no
    # row (pk 0). ``detail``: what such a change says about itself (``Change.detail``).
    plain: bool = False
    detail: tuple[tuple[str, object], ...] = ()
    # The pick's state (``random_pick(floor=...)``, and ``oldest_pick`` always): the writer passes
    # its floor as ``%(_floor)s`` (``EventContext.floors``; ``floor_start`` while it has none) and,
    # from a single statement's reply, learns the next one.
    floor: str | None = None
    floor_start: str = "0"
    # Rows enter the state above any floor (oldest-first picks: at now): a pick that found nothing
    # (none old enough yet) leaves the floor as it is.
    floor_kept_when_empty: bool = False


@dataclass(frozen=True, eq=False)  # kinds are singletons: compared and hashed by identity
class EventKind:
    name: str  # the key used in STREAM_*_WEIGHTS
    table: str
    op: str
    needs: tuple[str, ...]  # referenced tables that must have rows for the event to be possible
    build: Callable[[EventContext], Statement | None]
    # Expected change of each open lifecycle (``daemon.stream.backlog``) per committed event.
    flows: Mapping[str, float] = field(default_factory=dict)
    # The SCHEMA_EXTRAS entry whose table the kind writes (its weight is in STREAM_EXTRA_WEIGHTS);
    # None for the kinds of the seven tables, and for logical messages, which need no table.
    extra: str | None = None
    # Uses what the schema changes add (STREAM_DDL_EVERY_SECONDS): drawn only while they run.
    ddl: bool = False

    @property
    def drains(self) -> str | None:
        """The open lifecycle this kind moves rows out of, if any."""
        return next((name for name, flow in self.flows.items() if flow < 0), None)

    def possible(self, ids: IdPool) -> bool:
        return all(ids.has(table) for table in self.needs)


def random_pick(table: str, state: str, floor: str | None = None) -> str:
    """A CTE ``pick`` holding one random row of ``table`` in ``state`` (our own SQL), locked.

    The start point is drawn between the smallest and largest id in that state, both read from
    the index made for the state (``sql/02_indexes.sql``); as a scalar subquery it becomes the
    index condition of the scan, so a pick costs a few index pages at any table size. ``%(r)s``
    is the event's uniform draw in [0, 1). SKIP LOCKED lets several writers pick different rows.

    ``floor`` names the state for the writer's ``Floors``: the smallest id is searched from
    ``%(_floor)s`` (a CTE ``bound``, returned with the reply), not through the entries rows that
    left the state keep at the start of its index until vacuum (at full speed, hundreds of pages
    between two autovacuum passes).
    """
    if floor is None:
        return (
            f"pick AS (SELECT id FROM {table} WHERE {state} AND id >= (SELECT min(id) + "
            f"((max(id) - min(id)) * %(r)s::float8)::bigint FROM {table} WHERE {state}) "
            "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        )
    return (
        f"bound AS (SELECT min(id) AS lo, max(id) AS hi FROM {table} WHERE {state} AND id >= %(_floor)s), "
        f"pick AS (SELECT id FROM {table} WHERE {state} AND id >= (SELECT lo + "
        "((hi - lo) * %(r)s::float8)::bigint FROM bound) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    )


def free_convenio(paciente: str) -> str:
    """A subquery of one convênio (``id``) that ``paciente`` (an SQL expression) does not hold.

    The first such convênio at or after a random point of the convênios' key (``%(start)s``, the
    event's uniform draw in [0, 1)), wrapping around to the first one below it: a few probes of the
    primary key and of the enrolments' (paciente, convênio) key, however many convênios there are.
    """
    point = "(SELECT min(id) + ((max(id) - min(id)) * %(start)s::float8)::bigint FROM convenios)"
    free = (
        f"NOT EXISTS (SELECT 1 FROM pacientes_convenios pc WHERE pc.paciente_id = {paciente} AND pc.convenio_id = c.id)"
    )
    return (
        f"((SELECT c.id FROM convenios c WHERE c.id >= {point} AND {free} ORDER BY c.id LIMIT 1) UNION ALL "
        f"(SELECT c.id FROM convenios c WHERE c.id < {point} AND {free} ORDER BY c.id LIMIT 1) LIMIT 1)"
    )
