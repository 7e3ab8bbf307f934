"""Reading Debezium change events as JSON lines.

Accepted per line: the envelope (``before/after/source/op``), the same wrapped as
``{"schema": ..., "payload": ...}``, ``null`` (a tombstone), or a key and a value separated by
whitespace/tab (kafka-console-consumer with ``print.key=true``). This is what Kafka's console
consumer and Debezium Server print.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

OPS = {"c": "insert", "u": "update", "d": "delete", "r": "read"}
UNAVAILABLE = "__debezium_unavailable_value"
_decoder = json.JSONDecoder()


@dataclass(frozen=True)
class ChangeEvent:
    table: str | None  # None for a tombstone whose key names no table
    op: str  # insert | update | delete | read | tombstone
    pk: int | None
    txid: int | None
    lsn: int | None
    before: dict | None
    after: dict | None
    line: int


class EventFormatError(ValueError):
    pass


def unwrap(doc: object) -> object:
    """A decoded JsonConverter document without its ``schema``/``payload`` wrapper, if it has one."""
    if isinstance(doc, dict) and "payload" in doc and "schema" in doc:
        return doc["payload"]
    return doc


def _documents(text: str) -> list[object]:
    docs: list[object] = []
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        doc, pos = _decoder.raw_decode(text, pos)
        docs.append(doc)
    return docs


def parse_line(text: str, number: int) -> ChangeEvent | None:
    """One event, or None for a blank line. Raises EventFormatError on anything else."""
    if not text.strip():
        return None
    try:
        docs = _documents(text)
    except json.JSONDecodeError as exc:
        raise EventFormatError(f"line {number}: not JSON ({exc.msg})") from None
    if len(docs) > 2:
        raise EventFormatError(f"line {number}: expected a value, or a key and a value")
    return parse_envelope(docs[0] if len(docs) == 2 else None, docs[-1], number)


def parse_record(key: str | None, value: str | None, number: int = 0) -> ChangeEvent:
    """A record as Kafka Connect delivers it: key and value as JSON text, ``value`` None for a tombstone."""
    try:
        key_doc = None if key is None else json.loads(key)
        value_doc = None if value is None else json.loads(value)
    except json.JSONDecodeError as exc:
        raise EventFormatError(f"record {number}: not JSON ({exc.msg})") from None
    return parse_envelope(key_doc, value_doc, number)


def parse_envelope(key_doc: object, value_doc: object, number: int) -> ChangeEvent:
    """The event in a decoded key (None when absent) and value (None: a tombstone), wrapped or not."""
    key, value = unwrap(key_doc), unwrap(value_doc)
    if value is None:
        pk = key.get("id") if isinstance(key, dict) else None
        return ChangeEvent(None, "tombstone", pk, None, None, None, None, number)
    if not isinstance(value, dict) or "op" not in value:
        raise EventFormatError(f"line {number}: not a Debezium change event (no 'op')")
    source = value.get("source") or {}
    before, after = value.get("before"), value.get("after")
    row = after if after is not None else before
    pk = row.get("id") if isinstance(row, dict) else (key.get("id") if isinstance(key, dict) else None)
    op = OPS.get(value["op"])
    if op is None:
        raise EventFormatError(f"line {number}: unknown op {value['op']!r}")
    lsn = source.get("lsn")
    return ChangeEvent(source.get("table"), op, pk, source.get("txId"), lsn, before, after, number)


def read_events(lines: Iterable[str]) -> Iterator[ChangeEvent]:
    for number, text in enumerate(lines, 1):
        event = parse_line(text, number)
        if event is not None:
            yield event
