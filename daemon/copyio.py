"""Encode rows for PostgreSQL's COPY text format and stream them in chunks."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def encode_value(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def encode_rows(rows: Iterable[Sequence[object]]) -> str:
    return "".join("\t".join(map(encode_value, row)) + "\n" for row in rows)


def copy_rows(cur, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """COPY ``rows`` into ``table`` (identifiers come from our own constants, never from input)."""
    if not rows:
        return
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    cur.copy_expert(sql, io.StringIO(encode_rows(rows)))
