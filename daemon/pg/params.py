"""Statement parameters: ``%(name)s`` placeholders turned into ``$n``, and values typed and
written in text the way psycopg2 would have written their literals.

An event's statement is a text with ``%(name)s`` placeholders. Prepared once per session
(``daemon.pg.pipeline``), every occurrence becomes its own ``$n``, declared with the type of
psycopg2's literal for the value (a string or NULL is ``unknown`` and takes its type from the
context, an int is ``integer``/``bigint``, a finite float ``numeric``, a datetime
``timestamptz``...), so a prepared statement means exactly what the interpolated statement meant.
A value of another type is inlined as psycopg2's literal (:meth:`Parameterised.inlined`).
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
from collections.abc import Sequence
from decimal import Decimal

import psycopg2.extensions

PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")
INT4 = 2**31
INT8 = 2**63
# The OIDs of the types declared for parameters (0: unknown, typed by its context).
OIDS = {
    "unknown": 0,
    "boolean": 16,
    "bigint": 20,
    "integer": 23,
    "float8": 701,
    "text[]": 1009,
    "date": 1082,
    "timestamp": 1114,
    "timestamptz": 1184,
    "interval": 1186,
    "numeric": 1700,
}

# The common cases by exact type (a bool is not an int here; subclasses take the long way).
_BY_TYPE: dict[type, str] = {str: "unknown", type(None): "unknown", bool: "boolean", datetime.date: "date"}


def literal_type(value: object) -> str | None:
    """The SQL type of psycopg2's literal for ``value`` (None: not mirrored, inline it)."""
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
        return "numeric" if math.isfinite(value) else "float8"  # psycopg2: 1.5, but 'NaN'::float
    if isinstance(value, Decimal):
        return "numeric"
    if isinstance(value, datetime.datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, datetime.timedelta):
        return "interval"
    if isinstance(value, list) and all(isinstance(v, str) or v is None for v in value) and value:
        return "text[]"  # psycopg2: ARRAY['a', NULL], a text[]
    return None


def type_oid(name: str) -> int:
    return OIDS[name]


def text_value(value: object) -> bytes | None:
    """``value`` in PostgreSQL's text input form for the type :func:`literal_type` gives it."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, float):
        if math.isnan(value):
            return b"NaN"
        if math.isinf(value):
            return b"Infinity" if value > 0 else b"-Infinity"
        return repr(value).encode()
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat().encode()
    if isinstance(value, datetime.timedelta):
        return f"{value.days} days {value.seconds}.{value.microseconds:06d} seconds".encode()
    if isinstance(value, list):
        return ("{" + ",".join("NULL" if v is None else _array_element(v) for v in value) + "}").encode()
    return str(value).encode()  # int, Decimal


def _array_element(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Parameterised:
    """A statement text with ``$n`` for each ``%(name)s`` occurrence (``%%`` unescaped)."""

    def __init__(self, text: str) -> None:
        self.source = text
        self.names: list[str] = []
        self.named: dict[tuple[str, ...], str] = {}  # statement_name() by parameter types

        def number(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return "%"
            self.names.append(match.group(1))
            return f"${len(self.names)}"

        self.text = PLACEHOLDER.sub(number, text)

    def inlined(self, values: Sequence[object]) -> str:
        """The text with each value written as psycopg2's literal (a value not mirrored as a parameter)."""
        try:
            literals = iter([psycopg2.extensions.adapt(v).getquoted().decode() for v in values])
        except psycopg2.Error as exc:  # a type psycopg2 cannot write either
            raise ValueError(str(exc).strip()) from None
        return PLACEHOLDER.sub(lambda m: "%" if m.group(1) is None else next(literals), self.source)


def statement_name(parsed: Parameterised, types: tuple[str, ...]) -> str:
    """The same name for the same text and types, on any connection (hashed once per text and types)."""
    name = parsed.named.get(types)
    if name is None:
        name = parsed.named[types] = "hsim_" + hashlib.sha1(f"{types}\0{parsed.text}".encode()).hexdigest()[:24]
    return name
