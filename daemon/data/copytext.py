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
    return escape(str(value))


def encode_row(row: Sequence[object]) -> str:
    """One COPY text line, newline included."""
    return "\t".join(map(encode_value, row)) + "\n"
