"""PostgreSQL's COPY text format: the one escaper of fields, and rows encoded as lines.

Both the seed's bulk generator (whole columns of already-escaped text) and row-at-a-time
encoding go through :func:`escape`, so a tab, newline or backslash in generated data can never
shift a column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape(text: str) -> str:
    """A string as a COPY text field."""
    return text.translate(_ESCAPES)


def encode_value(value: object) -> str:
    if value is None:
        return NULL
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return escape("\\x" + value.hex())  # bytea's hex format
    if isinstance(value, (list, tuple)):
        return escape(array_literal(value))
    return escape(str(value))


def array_literal(items: Sequence[object]) -> str:
    """A one-dimensional array as PostgreSQL's text input reads it (every element quoted)."""
    quoted = ('"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def encode_row(row: Sequence[object]) -> str:
    """One COPY text line, newline included."""
    return "\t".join(map(encode_value, row)) + "\n"
