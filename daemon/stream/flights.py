"""Events in flight: what a writer sent, what became of it, and how an event in doubt is settled.

Each event also writes its sequence number into one of its writer's ``PIPELINE_DEPTH`` rows of
``hospital_sim_writers`` (slot ``seq % PIPELINE_DEPTH``), in its own transaction. The events in
flight are consecutive, so each has its own row: after a lost connection, an event committed
exactly when its row holds its sequence number, and the row holds its id and txid.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from daemon.cdc.ledger import Change
from daemon.errors import StopRequested
from daemon.pg import sqlfiles
from daemon.pg.pipeline import Pipeline
from daemon.signals import StopSignal
from daemon.stream.kinds.base import EventKind, Statement
from daemon.stream.kinds.shape import Shape
from daemon.stream.message import changes_in_mark

# Events one writer has in flight at most: with 2 the server always has the next event queued while
# the writer reads a reply and builds another; 3 also absorbs the slower Python of a long laudo.
PIPELINE_DEPTH = 3
END_SESSION_SECONDS = 10.0  # how long a writer waits for its previous session to end before it reads its rows


class EventFailed(Exception):
    """The event was rolled back; ``kind`` says why (already logged)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(eq=False)
class Flight:
    """An event sent whose outcome the writer has not reported yet."""

    kind: EventKind
    statement: Statement
    seq: int
    built_with: Shape | None
    tried: Collection[EventKind] = ()  # kinds found with nothing to do before this one was drawn
    started: float = field(default_factory=time.perf_counter)
    resends: int = 0  # times the same statement was sent again before this
    floor_epoch: int = 0  # the epoch of the floor its pick searched from (``Floors.epoch``)


@dataclass(eq=False)
class Landed:
    """An event's outcome: its committed ``changes``; None with no ``failure``: the kind had
    nothing to do (no row in the state it picks from); or the ``failure`` that rolled it back."""

    flight: Flight
    changes: list[Change] | None = None
    failure: str | None = None


def slot(key: str, seq: int) -> str:
    """The ``hospital_sim_writers`` row event ``seq`` of writer ``key`` writes."""
    return f"{key}.{seq % PIPELINE_DEPTH}"


def end_session(session: Pipeline, pid: int, application_name: str, stop: StopSignal) -> None:
    """End a writer's previous session (backend ``pid``) if the server still runs it: a
    connection lost on the client's side only (a network cut) leaves the server running the
    events in flight, which could commit after their rows were read. Waits until it is gone: its
    events have then committed or rolled back for good. TimeoutError if it stays."""
    params = {"pid": pid, "application_name": application_name}
    deadline = time.monotonic() + END_SESSION_SECONDS
    while session.query(sqlfiles.load("writer_end_session"), params):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the previous session (pid {pid}) is still running after {END_SESSION_SECONDS:g} s")
        if stop.wait(0.05):
            raise StopRequested()


def committed(session: Pipeline, key: str, flights: Sequence[Flight]) -> list[list[Change] | None]:
    """For each flight, its changes if its writer row says it committed, else None."""
    rows = session.query(sqlfiles.load("writer_last_event"), {"writers": [slot(key, f.seq) for f in flights]})
    marks = {str(writer): (int(seq), int(pk), int(txid), changes) for writer, seq, pk, txid, changes in rows}
    settled: list[list[Change] | None] = []
    for flight in flights:
        mark = marks.get(slot(key, flight.seq))
        if mark is None or mark[0] != flight.seq:
            settled.append(None)
            continue
        _, pk, txid, listed = mark
        settled.append(changes_in_mark(flight.statement, flight.kind.name, pk, txid, listed))
    return settled
