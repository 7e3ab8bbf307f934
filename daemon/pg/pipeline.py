"""A pipelined session: messages of prepared statements, each its own transaction, several in flight.

psycopg2 speaks only the simple protocol and waits for each reply before it sends anything
else. The stream's events go through this instead (psycopg 3's libpq binding, ``psycopg.pq``):

- **the extended protocol**: each statement text is parsed and planned once per session (a
  named Parse, sent in the same message as its first use), then every use is a Bind/Execute of
  its values, sent as text and typed as psycopg2 would have typed their literals
  (:func:`daemon.pg.params.literal_type`), so a statement means what its interpolated text meant;
- **pipeline mode**: a message is one or more statements followed by a Sync, so it is one
  transaction (an error rolls back that message only: the server skips to its Sync); the next
  message may be sent before the reply to the previous one arrives, so the server is never idle
  waiting for the client to build the next one. Replies come back in the order sent.

A value of a type not mirrored here, or more than ``MAX_PREPARED`` texts in a session, goes as
an unnamed statement (parsed for that use only). Prepared statements that vanish from the session
(``DISCARD ALL`` by a pooler in transaction mode) fail their message with 26000; the caller may
send it again after :meth:`Pipeline.forget_prepared`, which gives up naming statements after
``MAX_STALE`` such losses.

The caller waits for input with ``poll`` (the GIL is released while it waits), so other threads
run; :meth:`Pipeline.cancel` may be called from any thread.
"""

from __future__ import annotations

import select
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg.errors
from psycopg import pq

from daemon.config import PgSettings
from daemon.errors import DatabaseError
from daemon.pg import connection
from daemon.pg.params import Parameterised, literal_type, statement_name, text_value, type_oid

MAX_PREPARED = 512  # named statements per session at most (a text inlining values would name every use)
MAX_STALE = 3  # prepared statements lost this many times: a pooler drops them; stop naming statements
STALE = ("26000", "0A000")  # statement gone from the session / its result type changed under it
DUPLICATE = "42P05"  # a Parse of a name the session has (a pooler's server connection prepared it before)
# A Parse refused for want of a parameter's type (the literal would have had one, e.g. '...' IS NULL):
# that text goes with its values inlined from then on.
UNTYPED = ("42P18", "42P08", "42804", "42725", "42883")
UTF8 = "utf-8"


def connect(pg: PgSettings, purpose: str) -> psycopg.Connection[Any]:
    """A psycopg 3 connection with the settings of :func:`daemon.pg.connection.connect`, in autocommit.

    Raises DatabaseUnavailable for transient failures, DatabaseRejected for permanent ones.
    """
    try:
        return psycopg.connect(**connection.libpq_params(pg, purpose), client_encoding="utf8", autocommit=True)
    except psycopg.Error as exc:
        raise connection.classify(exc, pg) from None


@dataclass
class Reply:
    """What the server said to one message: the rows of its last statement that returned rows
    (text values as ``str``), or the error that rolled the message back. ``resend``: the error
    came from how the message was prepared, not from what it does (the session lost our prepared
    statements, or a Parse could not type a parameter); the same message sent again will run."""

    rows: list[tuple[str | None, ...]] = field(default_factory=list)
    error: psycopg.Error | None = None
    resend: bool = False
    generation: int = 0  # forget_prepared() calls before the message was sent

    @property
    def sqlstate(self) -> str:
        return (self.error.sqlstate or "") if self.error is not None else ""


@dataclass
class _Sent:
    # One entry per command before the Sync: (name, text) for a Parse, None for a statement.
    commands: list[tuple[str, str] | None]
    generation: int
    ours: bool = False  # sent by the session itself (DEALLOCATE ALL): its reply is read and dropped


class Pipeline:
    """One session in pipeline mode. Not thread-safe apart from :meth:`cancel`."""

    def __init__(self, conn: psycopg.Connection[Any], prepare: bool = True) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.prepare = prepare
        self._parsed: dict[str, Parameterised] = {}
        self._names: set[str] = set()  # statements this session has prepared (or is preparing)
        self._inline: set[str] = set()  # texts whose Parse could not type a parameter
        self._sent: deque[_Sent] = deque()
        self._generation = 0
        self._stale = 0
        self._cancel = self.pgconn.get_cancel()  # made now: libpq's cancel object is safe from another thread
        self.pgconn.enter_pipeline_mode()
        self._poll = select.poll()
        self._poll.register(self.pgconn.socket, select.POLLIN)

    @property
    def in_flight(self) -> int:
        """Messages sent whose reply has not been read."""
        return sum(1 for sent in self._sent if not sent.ours)

    @property
    def prepared(self) -> frozenset[str]:
        return frozenset(self._names)

    @property
    def closed(self) -> bool:
        return self.conn.closed or self.pgconn.status != pq.ConnStatus.OK

    def send(self, statements: Sequence[str], params: Mapping[str, object]) -> None:
        """Queue ``statements`` (texts with ``%(name)s`` placeholders) as one message, one
        transaction, and send it; the reply is read by :meth:`receive`, in order.

        A value that cannot be written raises before anything is queued. If libpq refuses a
        command midway, the message is cut: the session is closed (OperationalError), so no half
        message can join the next one's transaction."""
        commands: list[tuple[str, str] | None] = []
        calls: list[tuple[Any, ...]] = []
        names = set(self._names)
        for text in statements:
            parsed = self._parsed.get(text)
            if parsed is None:
                parsed = Parameterised(text)
                if len(self._parsed) < MAX_PREPARED:
                    self._parsed[text] = parsed
            values = [params[name] for name in parsed.names]
            types = [literal_type(v) for v in values]
            if None in types or text in self._inline:  # the text with its values as psycopg2's literals
                try:
                    inlined = parsed.inlined(values)
                except ValueError as exc:
                    raise psycopg.DataError(f"a parameter cannot be sent: {exc}") from None
                calls.append((self.pgconn.send_query_params, inlined.encode(UTF8), None))
                commands.append(None)
                continue
            known = tuple(t for t in types if t is not None)
            oids = [type_oid(t) for t in known]
            encoded = [text_value(v) for v in values]
            name = statement_name(parsed, known) if self.prepare else ""
            if name and name not in names and len(names) >= MAX_PREPARED:
                name = ""
            if not name:
                calls.append((self.pgconn.send_query_params, parsed.text.encode(UTF8), encoded, oids))
                commands.append(None)
                continue
            if name not in names:
                calls.append((self.pgconn.send_prepare, name.encode(), parsed.text.encode(UTF8), oids))
                names.add(name)
                commands.append((name, text))
            calls.append((self.pgconn.send_query_prepared, name.encode(), encoded))
            commands.append(None)
        try:
            for call, *args in calls:
                call(*args)
            self.pgconn.pipeline_sync()
        except psycopg.Error as exc:
            self.close()
            raise psycopg.OperationalError(f"message not sent whole: {exc}") from exc
        self._names = names
        self._sent.append(_Sent(commands, self._generation))

    def receive(self) -> Reply:
        """The reply to the oldest message in flight (waits for it). Raises psycopg.OperationalError
        when the connection is lost."""
        while self._sent[0].ours:
            self._read(self._sent.popleft())
        return self._read(self._sent.popleft())

    def _read(self, sent: _Sent) -> Reply:
        reply = Reply(generation=sent.generation)
        for parse in sent.commands:
            while (result := self._next_result()) is not None:
                status = result.status
                if status == pq.ExecStatus.TUPLES_OK:
                    reply.rows = [
                        tuple(_text(result.get_value(r, c)) for c in range(result.nfields))
                        for r in range(result.ntuples)
                    ]
                elif status == pq.ExecStatus.FATAL_ERROR:
                    if self.pgconn.status != pq.ConnStatus.OK:
                        raise psycopg.OperationalError(self.pgconn.get_error_message(UTF8))
                    if reply.error is None:
                        reply.error = psycopg.errors.error_from_result(result, encoding=UTF8)
                        reply.resend = reply.sqlstate in STALE
                        if parse is not None and reply.sqlstate in (*UNTYPED, DUPLICATE):
                            if reply.sqlstate != DUPLICATE:
                                self._inline.add(parse[1])
                            reply.resend = True
                            parse = None if reply.sqlstate == DUPLICATE else parse  # that name is there: keep it
                if parse is not None and status != pq.ExecStatus.COMMAND_OK:
                    self._names.discard(parse[0])  # the Parse failed or was skipped: nothing was created
        sync = self._next_result()
        if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
            raise psycopg.OperationalError("the pipeline lost its place (no Sync where one was sent)")
        return reply

    def forget_prepared(self, reply: Reply) -> bool:
        """``reply`` says the session lost our prepared statements (a pooler): name them again
        from the next message, or, after ``MAX_STALE`` losses, stop naming statements (the other
        messages that were in flight count as the same loss). True when this loss stopped the naming."""
        if reply.generation != self._generation:
            return False
        self._generation += 1
        self._stale += 1
        self._names.clear()
        # What the session still holds of ours (a statement whose result type changed) goes too,
        # so the names can be parsed again.
        try:
            self.pgconn.send_query_params(b"DEALLOCATE ALL", None)
            self.pgconn.pipeline_sync()
            self._sent.append(_Sent([None], self._generation, ours=True))
        except psycopg.Error:
            pass  # the session is gone: the next message finds out, and a new session holds nothing

        if self._stale >= MAX_STALE and self.prepare:
            self.prepare = False
            return True
        return False

    @contextmanager
    def outside(self) -> Iterator[psycopg.Cursor[Any]]:
        """A psycopg 3 cursor on this session, out of pipeline mode for the block (nothing may be
        in flight): the writer's bookkeeping, not its events."""
        while self._sent and self._sent[0].ours:
            self._read(self._sent.popleft())
        if self._sent:
            raise DatabaseError("the session was used outside its pipeline with messages in flight")
        self.pgconn.exit_pipeline_mode()
        try:
            with self.conn.cursor() as cur:
                yield cur
        finally:
            if not self.closed:
                self.pgconn.enter_pipeline_mode()

    def query(self, sql: str, params: Mapping[str, object] | Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        """One statement outside the pipeline (:meth:`outside`); its rows."""
        with self.outside() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def cancel(self) -> None:
        """Ask the server to cancel what this session runs (from any thread)."""
        if not self.closed:
            self._cancel.cancel()

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg.Error:
            pass

    def _next_result(self) -> Any:
        """libpq's next result (None ends one command's results), waiting for input without the GIL."""
        while self.pgconn.is_busy():
            self._poll.poll()
            self.pgconn.consume_input()  # raises OperationalError when the connection is gone
        return self.pgconn.get_result()


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode(UTF8)
