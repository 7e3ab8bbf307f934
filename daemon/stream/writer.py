"""A stream writer: its own random stream and session, events one transaction each, several in flight.

Each event is one message to the server (its statement, or an episode's statements, then a
Sync: one transaction), sent through a pipelined session (``daemon.pg.pipeline``): the writer
sends up to ``PIPELINE_DEPTH`` events before it reads the oldest reply, so the server runs one
event while the writer builds the next. A change is reported only from its reply, that is once
committed. When the connection drops with events in flight, their outcome is unknown to us:
after reconnecting, the writer's rows say which of them committed (``daemon.stream.flights``).
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable, Collection

import psycopg
import psycopg.errors
from loguru import logger

from daemon.cdc.ledger import Change
from daemon.config import PgSettings
from daemon.errors import DatabaseRejected, StopRequested, first_line
from daemon.health import Health
from daemon.pg import connection, pipeline
from daemon.pg.pipeline import Pipeline, Reply
from daemon.pg.retry import with_retry
from daemon.signals import StopSignal
from daemon.stream.flights import PIPELINE_DEPTH, EventFailed, Flight, Landed, committed, end_session, slot
from daemon.stream.kinds.base import EventContext, EventKind, Statement
from daemon.stream.kinds.faturamento import EXTRA as FATURAMENTO
from daemon.stream.kinds.shape import Shape, read_shape
from daemon.stream.message import (
    changes_in_reply,
    compose,
    compose_plain,
    episode_statements,
    floor_in_reply,
    message_params,
)
from daemon.stream.stats import DELIBERATE_ROLLBACK

log = logger.bind(channel="stream")
SCHEMA_CHANGED = "schema_changed"  # failure kind: the table changed under the event (it is read again)
MAX_RESENDS = 3  # an event sent again this often for how it was prepared fails instead (no endless loop)
INTEGRITY_CLASS = "23"
QUERY_CANCELED = "57014"
UNDEFINED_COLUMN = "42703"


class Writer:
    def __init__(
        self,
        number: int,
        pg: PgSettings,
        retry_max_seconds: float,
        ledger_table: str | None,
        stop: StopSignal,
        ctx: EventContext,
        health: Health,
        on_reconnect: Callable[[], None],
        prepare: bool = True,
    ) -> None:
        self.number = number
        self.pg = pg
        self.retry_max_seconds = retry_max_seconds
        self.ledger_table = ledger_table
        self.stop = stop
        self.ctx = ctx
        self.health = health
        self.on_reconnect = on_reconnect
        self.prepare = prepare  # statements parsed once per session (off: each use parsed, as text)
        self.pipeline: Pipeline | None = None
        self.fatal: BaseException | None = None
        self._lost = False
        self.key = uuid.uuid4().hex  # this writer's rows in hospital_sim_writers: key.0, key.1...
        self.seq = 0  # events sent
        self._flights: deque[Flight] = deque()  # sent, reply not read yet (oldest first)
        self._landed: deque[Landed] = deque()  # outcomes known ahead of their turn (drained, or in doubt)

    @property
    def rng(self) -> random.Random:
        return self.ctx.rng

    @property
    def in_flight(self) -> int:
        """Events sent whose outcome :meth:`receive` has not returned yet."""
        return len(self._flights) + len(self._landed)

    @property
    def has_room(self) -> bool:
        return len(self._flights) < PIPELINE_DEPTH

    @property
    def purpose(self) -> str:
        """What its connection says it is for (in its application_name)."""
        return f"stream-{self.number}"

    def slot(self, seq: int) -> str:
        """The ``hospital_sim_writers`` row event ``seq`` writes."""
        return slot(self.key, seq)

    def apply(self, kind: EventKind) -> tuple[list[Change], Statement] | None:
        """Run one event and wait for it (nothing else in flight). Returns its changes, None when
        the kind had nothing to do; raises EventFailed when it did not commit."""
        if self.in_flight:
            raise RuntimeError("apply() with events in flight")
        flight = self.send(kind)
        if flight is None:
            return None
        landed = self.receive()
        if landed.failure is not None:
            raise EventFailed(landed.failure)
        if landed.changes is None:
            return None
        return landed.changes, landed.flight.statement

    def send(self, kind: EventKind, tried: Collection[EventKind] = ()) -> Flight | None:
        """Build one event of ``kind`` and send it without waiting for the reply (read it with
        :meth:`receive`). None when the kind found nothing to do while building; raises
        EventFailed when it could not be sent (its outcome is then known: nothing committed)."""
        flight: Flight | None = None
        try:
            session = self.session()
            if self.ctx.shape.stale:  # a statement found faturamento changed: read its shape again
                self._drain()
                self._read_shape()
                session = self.session()
            built_with = self.ctx.shape.current
            self.ctx.refresh_clock()
            statement = kind.build(self.ctx)
            if statement is None:
                return None
            self.seq += 1
            flight = Flight(kind, statement, self.seq, built_with, tried)
            self._flights.append(flight)  # before sending: a send cut off midway is in doubt too
            self._send(session, flight)
            return flight
        except StopRequested:
            self._discard(flight)
            raise EventFailed("stopped") from None
        except DatabaseRejected as exc:
            self._discard(flight)
            self.fatal = exc
            self.stop.set()
            raise EventFailed("rejected") from None
        except psycopg.Error as exc:
            if connection.is_connection_lost(exc):
                self._settle_lost(exc)  # this event, if sent, is among those settled
                if flight is None:  # lost before it was built: nothing of it went out
                    raise EventFailed(self._warn("connection", kind, exc)) from None
                return flight
            self._discard(flight)
            raise EventFailed(self._warn("database", kind, exc)) from None
        except BaseException:
            self._discard(flight)  # never sent: no reply will come for it
            raise

    def _send(self, session: Pipeline, flight: Flight) -> None:
        statement, kind = flight.statement, flight.kind
        params = message_params(statement, self.slot(flight.seq), flight.seq, kind.name, self.ctx.floors)
        if statement.floor is not None:
            flight.floor_epoch = self.ctx.floors.epoch(statement.floor)
        if statement.op == "episode":
            texts = episode_statements(statement, self.ledger_table)
        elif statement.plain:  # a TRUNCATE, a logical message: the change, then the mark
            texts = list(compose_plain(statement, self.ledger_table))
        else:
            texts = [compose(statement, self.ledger_table)]
        session.send(texts, params)

    def _discard(self, flight: Flight | None) -> None:
        """``flight`` (the newest) was not sent: forget it, and its sequence number, so that the
        events in flight stay consecutive (each its own row)."""
        if flight is not None and self._flights and self._flights[-1] is flight:
            self._flights.pop()
            self.seq = flight.seq - 1

    def receive(self) -> Landed:
        """The outcome of an event in flight (the oldest, unless some were settled ahead); waits for it."""
        while not self._landed:
            if not self._flights:
                raise RuntimeError("receive() with nothing in flight")
            self._receive_one()
        return self._landed.popleft()

    def _receive_one(self) -> None:
        """Read the oldest flight's reply; its outcome (if final) goes to ``_landed``."""
        assert self.pipeline is not None
        flight = self._flights[0]
        try:
            reply = self.pipeline.receive()
        except psycopg.Error as exc:  # the connection is gone: every event in flight is in doubt
            self._settle_lost(exc)
            return
        self._flights.popleft()
        landed = self._outcome(flight, reply)
        if landed is not None:
            self._landed.append(landed)

    def _drain(self) -> None:
        """Read every reply in flight (their outcomes wait in ``_landed``): the session is then free."""
        while self._flights:
            self._receive_one()

    def _outcome(self, flight: Flight, reply: Reply) -> Landed | None:
        statement, kind = flight.statement, flight.kind
        exc = reply.error
        if exc is None:
            if statement.floor is not None and statement.op != "episode":
                floor = floor_in_reply(reply.rows)
                self.ctx.floors.learn(statement.floor, floor, flight.floor_epoch, statement.floor_kept_when_empty)
            return Landed(flight, changes_in_reply(statement, kind.name, reply.rows))
        code = reply.sqlstate
        if reply.resend and self.pipeline is not None and flight.resends < MAX_RESENDS:
            # how it was prepared failed, not what it does
            if reply.stale and self.pipeline.forget_prepared(reply):
                log.bind(event="stream.prepared_off").warning(
                    "prepared statements keep disappearing from the session ({error}; a pooler in transaction "
                    "mode?): each event's statements are parsed with it from now on",
                    error=first_line(exc),
                )
            return self._resend(flight)
        if code == UNDEFINED_COLUMN and self._shape_moved(kind, flight.built_with):
            # another replica's schema change dropped a column this writer still filled: not fatal
            return Landed(flight, failure=self._warn(SCHEMA_CHANGED, kind, exc))
        if code[:2] in connection.FATAL_SQLSTATE_CLASSES:  # missing privilege, dropped table...
            if self.fatal is None:  # the events in flight behind it are refused the same way: said once
                self.fatal = connection.classify(exc, self.pg)
                log.bind(event="stream.rejected", writer=self.number).error(
                    "{name} refused by the server, stopping (no event can succeed): {error}",
                    name=kind.name,
                    error=str(self.fatal),
                )
            self.stop.set()
            return Landed(flight, failure="rejected")
        integrity = code[:2] == INTEGRITY_CLASS
        if statement.fails_on_purpose and integrity:
            log.bind(event="stream.episode_rolled_back", episode=kind.name, writer=self.number).debug(
                "{name} rolled back on purpose: {error}", name=kind.name, error=first_line(exc)
            )
            return Landed(flight, failure=DELIBERATE_ROLLBACK)
        failure = "integrity" if integrity else ("canceled" if code == QUERY_CANCELED else "database")
        return Landed(flight, failure=self._warn(failure, kind, exc))

    def _resend(self, flight: Flight) -> Landed | None:
        """The same statement again, as a new event (its own sequence number and row)."""
        again: Flight | None = None
        try:
            session = self.session()
            self.seq += 1
            again = Flight(
                flight.kind,
                flight.statement,
                self.seq,
                flight.built_with,
                flight.tried,
                flight.started,
                flight.resends + 1,
            )
            self._flights.append(again)
            self._send(session, again)
            return None
        except StopRequested:
            self._discard(again)
            return Landed(flight, failure="stopped")
        except DatabaseRejected as exc:
            self._discard(again)
            self.fatal = exc
            self.stop.set()
            return Landed(flight, failure="rejected")
        except psycopg.Error as exc:
            if connection.is_connection_lost(exc):
                self._settle_lost(exc)
                return None
            self._discard(again)
            return Landed(flight, failure=self._warn("database", flight.kind, exc))
        except BaseException:
            self._discard(again)
            raise

    def _shape_moved(self, kind: EventKind, built_with: Shape | None) -> bool:
        """Whether faturamento's shape changed since ``kind`` built its statement (a column it
        filled was dropped by another replica): read again now. A column missing for any other
        reason is the server's refusal, as before."""
        if kind.extra != FATURAMENTO or built_with is None:
            return False
        try:
            self._drain()
            return self._read_shape() != built_with
        except (psycopg.Error, StopRequested, DatabaseRejected):  # could not look: read it before the next event
            self.ctx.shape.mark_stale()
            return True

    def _read_shape(self) -> Shape:
        with self.session().outside() as cur:
            return self.ctx.shape.set(read_shape(cur))

    def _settle_lost(self, exc: BaseException) -> None:
        """The connection dropped with events in flight: reconnect, and read the writer's rows to
        learn which of them committed (recorded with their ids and txids) and which did not."""
        flights = list(self._flights)
        self._flights.clear()
        previous = self.pipeline.backend_pid if self.pipeline is not None else None
        self._connection_lost()
        if not flights:
            return
        seqs = [f.seq for f in flights]
        log.bind(event="stream.in_doubt", seqs=seqs, writer=self.number).warning(
            "connection lost before the outcome of {n} event(s) of writer {writer} arrived (events {seqs}): "
            "checking them after reconnecting",
            n=len(flights),
            writer=self.number,
            seqs=", ".join(map(str, seqs)),
        )
        try:
            session = self.session()
            if previous is not None:
                end_session(session, previous, connection.application_name(self.pg, self.purpose), self.stop)
            settled = committed(session, self.key, flights)
        except (StopRequested, DatabaseRejected, psycopg.Error, TimeoutError) as again:
            log.bind(event="stream.in_doubt_unresolved", seqs=seqs).warning(
                "outcome of events {seqs} unknown ({error}); counted as in doubt",
                seqs=", ".join(map(str, seqs)),
                error=connection.scrub(first_line(again), self.pg),
            )
            self._landed.extend(Landed(f, failure="in_doubt") for f in flights)
            return
        for flight, changes in zip(flights, settled, strict=True):
            if changes is None:
                self._landed.append(Landed(flight, failure=self._warn("connection", flight.kind, exc)))
                continue
            log.bind(event="stream.in_doubt_committed", seq=flight.seq, txid=changes[0].txid).info(
                "event {seq} had committed (txid {txid}): recorded", seq=flight.seq, txid=changes[0].txid
            )
            self._landed.append(Landed(flight, changes))

    def _connection_lost(self) -> None:
        self._lost = True
        self.close()
        self.health.set_db_ok(False)

    def session(self) -> Pipeline:
        """The pipelined session, opened again (with retries) when it was lost."""
        if self.pipeline is not None and self.pipeline.closed and self._flights:
            # closed under events in flight (a message cut midway): settle them first
            self._settle_lost(psycopg.OperationalError("the session closed with events in flight"))
        if self.pipeline is None or self.pipeline.closed:
            if self.pipeline is not None:
                self.pipeline.close()
            pg = self.pg
            conn = with_retry(
                lambda: pipeline.connect(pg, self.purpose),
                self.stop,
                pg.describe(),
                self.retry_max_seconds,
                on_attempt=self.health.beat,
            )
            self.pipeline = Pipeline(conn, prepare=self.prepare)
            if self._lost:
                self._lost = False
                self.on_reconnect()
                log.bind(event="db.reconnected", target=pg.describe(), writer=self.number).info(
                    "writer {writer} reconnected to {target}", writer=self.number, target=pg.describe()
                )
            self.health.set_db_ok(True)
        return self.pipeline

    def cancel(self) -> None:
        if self.pipeline is not None:
            self.pipeline.cancel()

    def retire(self) -> None:
        """Remove this writer's rows (best effort: rows left behind are pruned a day later)."""
        if self.pipeline is None or self.pipeline.closed or self._flights:
            return
        try:
            self.pipeline.query(
                "DELETE FROM hospital_sim_writers WHERE writer = ANY(%s)",
                ([self.slot(s) for s in range(PIPELINE_DEPTH)],),
            )
        except psycopg.Error:
            pass

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
        self.pipeline = None

    def _warn(self, failure: str, kind: EventKind, exc: BaseException) -> str:
        log.bind(event="stream.rollback", failure=failure, table=kind.table, op=kind.op, writer=self.number).warning(
            "{name} rolled back ({failure}): {error}",
            name=kind.name,
            failure=failure,
            error=connection.scrub(first_line(exc), self.pg),
        )
        return failure
