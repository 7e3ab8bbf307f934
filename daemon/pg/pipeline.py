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
from typing import Any, NamedTuple

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
GONE = "26000"
DUPLICATE = "42P05"  # a Parse of a name the session has (a pooler's server connection prepared it before)
# A Parse refused for want of a parameter's type (the literal would have had one, e.g. '...' IS NULL):
# that text goes with its values inlined from then on.
UNTYPED = ("42P18", "42P08", "42804", "42725", "42883")
UTF8 = "utf-8"
POLL_MS = 1000  # a wait for the socket wakes at least this often to push output again


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
    stale: bool = False  # the resend is because the session lost our prepared statements (forget_prepared)
    generation: int = 0  # forget_prepared() calls before the message was sent

    @property
    def sqlstate(self) -> str:
        return (self.error.sqlstate or "") if self.error is not None else ""


class _Command(NamedTuple):
    """One command of a message before its Sync: a Parse (``parse``: its text) of statement
    ``name``, or an execution of it (``name`` empty: an unnamed statement, parsed with its use)."""

    name: str = ""
    parse: str | None = None


@dataclass
class _Sent:
    commands: list[_Command]
    generation: int
    number: int = 0  # messages sent before this one on the session
    # Statements it executes by name whose Parse went in an earlier message: name -> that message's number.
    relies: dict[str, int] = field(default_factory=dict)
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
        self._messages = 0  # messages sent
        self._parsed_in: dict[str, int] = {}  # name -> the message that carries (or carried) its Parse
        # name -> a message whose Parse of it the server skipped or refused: the messages that
        # relied on that Parse fail with 26000 through no loss of ours (sent again, not counted stale)
        self._unparsed: dict[str, int] = {}
        self._generation = 0
        self._stale = 0
        self.backend_pid = self.pgconn.backend_pid  # the server process, to end it if the client loses it
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
        commands: list[_Command] = []
        calls: list[tuple[Any, ...]] = []
        added: set[str] = set()  # names this message prepares (the session's once it is sent whole)
        number = self._messages
        relies: dict[str, int] = {}
        parsed_in: dict[str, int] = {}
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
                commands.append(_Command())
                continue
            known = tuple(t for t in types if t is not None)
            oids = [type_oid(t) for t in known]
            encoded = [text_value(v) for v in values]
            name = statement_name(parsed, known) if self.prepare else ""
            known_name = name in self._names or name in added
            if name and not known_name and len(self._names) + len(added) >= MAX_PREPARED:
                name = ""
            if not name:
                calls.append((self.pgconn.send_query_params, parsed.text.encode(UTF8), encoded, oids))
                commands.append(_Command())
                continue
            if not known_name:
                calls.append((self.pgconn.send_prepare, name.encode(), parsed.text.encode(UTF8), oids))
                added.add(name)
                parsed_in[name] = number
                commands.append(_Command(name, text))
            elif name not in parsed_in:
                relies[name] = self._parsed_in.get(name, -1)
            calls.append((self.pgconn.send_query_prepared, name.encode(), encoded))
            commands.append(_Command(name))
        try:
            for call, *args in calls:
                call(*args)
            self.pgconn.pipeline_sync()
            self._flush()
        except psycopg.Error as exc:
            self.close()
            raise psycopg.OperationalError(f"message not sent whole: {exc}") from exc
        self._names |= added
        self._parsed_in.update(parsed_in)
        self._messages += 1
        self._sent.append(_Sent(commands, self._generation, number, relies))

    def receive(self) -> Reply:
        """The reply to the oldest message in flight (waits for it). Raises psycopg.OperationalError
        when the connection is lost."""
        while self._sent[0].ours:
            self._read(self._sent.popleft())
        return self._read(self._sent.popleft())

    def _read(self, sent: _Sent) -> Reply:
        reply = Reply(generation=sent.generation)
        for command in sent.commands:
            keep = False  # a failed Parse whose name the session has anyway
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
                        self._judge(sent, command, reply)
                        keep = reply.sqlstate == DUPLICATE
                if command.parse is not None and status != pq.ExecStatus.COMMAND_OK and not keep:
                    # The Parse failed or was skipped (an earlier command failed): nothing was created.
                    self._names.discard(command.name)
                    self._unparsed[command.name] = sent.number
        sync = self._next_result()
        if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
            raise psycopg.OperationalError("the pipeline lost its place (no Sync where one was sent)")
        return reply

    def _judge(self, sent: _Sent, command: _Command, reply: Reply) -> None:
        """Whether ``command`` failed the message for how it was prepared (``reply.resend``), and
        whether because the session lost our statements (``reply.stale``). A Parse refused for
        what its text says (a 0A000 "not supported", say) is the message's own failure."""
        code = reply.sqlstate
        if command.parse is not None:
            if code in (*UNTYPED, DUPLICATE):
                if code != DUPLICATE:
                    self._inline.add(command.parse)
                reply.resend = True
        elif command.name and code in STALE:
            reply.resend = True
            relied_on = sent.relies.get(command.name)
            # An earlier message of ours carried its Parse and the server skipped or refused it: not a loss.
            reply.stale = code != GONE or relied_on is None or self._unparsed.get(command.name) != relied_on

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
            self._flush()
            self._sent.append(_Sent([_Command()], self._generation, self._messages, ours=True))
            self._messages += 1
        except psycopg.Error:
            self.close()  # cut midway, perhaps: the next message finds the session closed

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

    def _flush(self) -> None:
        """Push what libpq holds of our messages to the server (the connection is non-blocking:
        a full socket leaves the rest in libpq's buffer), reading replies meanwhile so that a
        server blocked on writing them can read on."""
        while self.pgconn.flush():  # 1: some is still to go
            self._wait(select.POLLIN | select.POLLOUT)
            self.pgconn.consume_input()

    def _wait(self, events: int) -> None:
        self._poll.modify(self.pgconn.socket, events)
        self._poll.poll(POLL_MS)  # without the GIL

    def _next_result(self) -> Any:
        """libpq's next result (None ends one command's results), waiting for input without the GIL."""
        while self.pgconn.is_busy():
            pending = self.pgconn.flush()  # output left over (the server may need it to reply)
            self._wait(select.POLLIN | (select.POLLOUT if pending else 0))
            self.pgconn.consume_input()  # raises OperationalError when the connection is gone
        return self.pgconn.get_result()


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode(UTF8)
