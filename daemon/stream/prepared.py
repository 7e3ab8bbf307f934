"""Server-side prepared statements for the stream's events: parsed and planned once per connection.

An event kind's SQL text is fixed apart from its parameters, so each distinct text (after the
writer's ``compose``) is sent once per connection as ``PREPARE`` and then, for every event, as
``EXECUTE name (values)`` in the simple protocol: still one message and one round trip per
event, but the server skips parsing and planning the multi-CTE statement.

Every ``%(name)s`` occurrence becomes its own ``$n``, typed as psycopg2's literal for the value
would be (a string or NULL is ``unknown`` and takes its type from the context, an int is
``integer``/``bigint``, a datetime ``timestamptz``...), so a prepared statement means exactly
what the interpolated statement meant. The name is a hash of the text and the types: the same
name always holds the same statement, on any connection. A text the server will not prepare
(or a value of a type not handled here) runs interpolated as before; a statement that vanished
from the session (``DISCARD ALL`` by a pooler) is prepared again and the event retried once,
which is safe: an ``EXECUTE`` of an unknown statement did nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

import psycopg2
import psycopg2.errors
from loguru import logger

from daemon.pg import connection
from daemon.pg.connection import Cursor

log = logger.bind(channel="stream")
PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")
INT4 = 2**31
INT8 = 2**63
# A statement gone from the session (DISCARD ALL, a pooler's other server connection) or one
# whose result type changed under it: prepare again and retry the event once.
STALE = ("26000", "0A000")
# A pooler in transaction mode loses them between any two events: give up preparing after this many.
MAX_STALE = 3
# SQLSTATE classes of a PREPARE that will never succeed for this text (syntax/type/access rule,
# feature not supported, data exception): the event runs as text. Any other error (cancelled,
# lock timeout, connection lost) is the event's own and is raised as such.
UNPREPARABLE = ("42", "0A", "22")
# Texts prepared per session at most (a kind that inlines values in its text would otherwise
# prepare every event): past this, new texts are sent as plain statements.
MAX_PREPARED = 512


# The common cases by exact type (a bool is not an int here; subclasses take the long way).
_BY_TYPE: dict[type, str] = {str: "unknown", type(None): "unknown", bool: "boolean", datetime.date: "date"}


def literal_type(value: object) -> str | None:
    """The SQL type of psycopg2's literal for ``value`` (None: not handled, run it interpolated)."""
    known = _BY_TYPE.get(type(value))
    if known is not None:
        return known
    if value is None or isinstance(value, str):
        return "unknown"  # a quoted literal / NULL: typed by its context
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if -INT4 < value < INT4 else ("bigint" if -INT8 < value < INT8 else "numeric")
    if isinstance(value, float):
        return "numeric" if value == value and abs(value) != float("inf") else None
    if isinstance(value, Decimal):
        return "numeric"
    if isinstance(value, datetime.datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, datetime.timedelta):
        return "interval"
    return None


class Parameterised:
    """A statement text with ``$n`` for each ``%(name)s`` occurrence (``%%`` unescaped)."""

    def __init__(self, text: str) -> None:
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return "%"
            self.names.append(match.group(1))
            return f"${len(self.names)}"

        # A text already holding $n (or a positional %s) is left to psycopg2.
        self.ok = re.search(r"\$\d|%s", text) is None
        self.text = PLACEHOLDER.sub(number, text) if self.ok else text
        self.execute_sql = f"EXECUTE {{}} ({', '.join(['%s'] * len(self.names))})" if self.names else "EXECUTE {}"


def statement_name(parsed: Parameterised, types: tuple[str, ...]) -> str:
    """The same name for the same text and types, on any connection."""
    return "hsim_" + hashlib.sha1(f"{types}\0{parsed.text}".encode()).hexdigest()[:24]


def prepare_sql(name: str, parsed: Parameterised, types: tuple[str, ...]) -> str:
    declared = f" ({', '.join(types)})" if types else ""
    return f"PREPARE {name}{declared} AS {parsed.text}"


class PreparedStatements:
    """One connection's prepared statements; ``reset()`` when the connection is replaced."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._parsed: dict[str, Parameterised] = {}  # statement text -> its $n form
        self._names: dict[tuple[str, tuple[str, ...]], str | None] = {}  # (text, types) -> name; None: not prepared
        self._stale = 0

    def reset(self) -> None:
        """A new session: nothing is prepared in it yet."""
        self._names.clear()

    def execute(self, cur: Cursor, statements: Sequence[str], params: Mapping[str, object]) -> None:
        """Run ``statements`` as one message (one transaction, one round trip), prepared when possible."""
        if self.enabled:
            try:
                message = self._message(cur, statements, params)
                if message is not None:
                    cur.execute(*message)
                    return
            except psycopg2.Error as exc:
                if exc.pgcode not in STALE:
                    raise
                self._forget(cur, exc)
                message = self._message(cur, statements, params) if self.enabled else None
                if message is not None:
                    cur.execute(*message)
                    return
        cur.execute("; ".join(statements), params)

    def _message(
        self, cur: Cursor, statements: Sequence[str], params: Mapping[str, object]
    ) -> tuple[str, list[object]] | None:
        parts: list[str] = []
        values: list[object] = []
        for text in statements:
            parsed = self._parsed.get(text)
            if parsed is None:
                if len(self._parsed) >= MAX_PREPARED:
                    return None
                parsed = self._parsed[text] = Parameterised(text)
            if not parsed.ok:
                return None
            args = [params[name] for name in parsed.names]
            types = tuple([literal_type(v) or "" for v in args])
            name = self._prepared(cur, parsed, types)
            if name is None:
                return None
            parts.append(parsed.execute_sql.format(name))
            values += args
        return "; ".join(parts), values

    def _prepared(self, cur: Cursor, parsed: Parameterised, types: tuple[str, ...]) -> str | None:
        key = (parsed.text, types)
        if key in self._names:
            return self._names[key]
        if "" in types or len(self._names) >= MAX_PREPARED:  # a value psycopg2 adapts in a way not mirrored here
            self._names[key] = None
            return None
        name = statement_name(parsed, types)
        try:
            cur.execute(prepare_sql(name, parsed, types))
        except psycopg2.errors.DuplicatePreparedStatement:
            pass  # the same name is the same text: prepared before in this session
        except psycopg2.Error as exc:
            if (exc.pgcode or "")[:2] not in UNPREPARABLE:  # cancelled, lock timeout, connection lost...
                raise
            # The server will not prepare it (or the table is gone): run it interpolated, which
            # also reports any real error the way an event's error is reported.
            log.bind(event="stream.not_prepared", sqlstate=exc.pgcode).debug(
                "statement not prepared ({error}); sent as text", error=str(exc).strip().splitlines()[0]
            )
            self._names[key] = None
            return None
        self._names[key] = name
        return name

    def _forget(self, cur: Cursor, exc: psycopg2.Error) -> None:
        """The session lost our statements (or one went stale): start again, or give up preparing."""
        self._stale += 1
        self.reset()
        if self._stale >= MAX_STALE:
            self.enabled = False
            log.bind(event="stream.prepared_off").warning(
                "prepared statements keep disappearing from the session ({error}; a pooler in transaction mode?): "
                "events are sent as plain statements from now on",
                error=str(exc).strip().splitlines()[0],
            )
        try:
            cur.execute("DEALLOCATE ALL")
        except psycopg2.Error as again:
            if connection.is_connection_lost(again):
                raise
