"""PostgreSQL's COPY text format: the one escaper of fields, and rows encoded as lines.

Both the seed's bulk generator (whole columns of already-escaped text) and row-at-a-time
encoding go through :func:`escape`, so a tab, newline or backslash in generated data can never
shift a column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

NULL = "\\N"
_PLAIN = re.compile(r'[^{},"\\\s]+')  # an array element that needs no quotes
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape(text: str) -> str:
    """A string as a COPY text field."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text  # the common case: nothing to escape (a scan, far cheaper than translate)


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
    """A one-dimensional array as PostgreSQL's text input reads it (elements quoted when needed)."""
    return "{" + ",".join(map(_element, items)) + "}"


def _element(item: object) -> str:
    text = str(item)
    if _PLAIN.fullmatch(text) and text.upper() != "NULL":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_row(row: Sequence[object]) -> str:
    """One COPY text line, newline included."""
    return "\t".join(map(encode_value, row)) + "\n"
