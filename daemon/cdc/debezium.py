"""Reading Debezium records as JSON lines.

Accepted per line: the envelope (``before/after/source/op``), the same wrapped as
``{"schema": ..., "payload": ...}``, ``null`` (a tombstone), or a key and a value separated by
whitespace/tab (kafka-console-consumer with ``print.key=true``). This is what Kafka's console
consumer and Debezium Server print. A dump taken with a wide topic pattern holds more than
change events: transaction metadata (``status`` BEGIN/END), heartbeats, logical decoding
messages (``op: m``), truncates (``op: t``) and schema changes; each is parsed into a
:class:`ChangeEvent` of its own kind, to be counted, never rejected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

OPS = {"c": "insert", "u": "update", "d": "delete", "r": "read", "t": "truncate", "m": "message"}
CHANGES = ("insert", "update", "delete")
OTHER_KINDS = ("transaction", "heartbeat", "message", "truncate", "schema_change", "other")
UNAVAILABLE = "__debezium_unavailable_value"  # Debezium's default ``unavailable.value.placeholder``
INITIAL_SNAPSHOT = frozenset({"true", "first", "last", "first_in_data_collection", "last_in_data_collection"})
XID_MOD = 2**32  # Debezium streams the 32-bit xid; txid_current() and snapshot reads add an epoch
_decoder = json.JSONDecoder()


@dataclass(frozen=True)
class ChangeEvent:
    table: str | None  # None for a tombstone whose key names no table
    op: str  # insert | update | delete | read | tombstone, or one of OTHER_KINDS
    pk: int | None
    txid: int | None
    lsn: int | None
    before: dict | None
    after: dict | None
    line: int
    snapshot: str | None = None  # source.snapshot: "true", "first", ..., "incremental", "false"
    transaction: dict | None = None  # the change event's {id, total_order, data_collection_order}
    payload: dict | None = None  # the record itself, for the kinds that are not row changes
    fields: dict[str, dict] | None = None  # column -> Connect field schema, when the dump has schemas

    @property
    def snapshot_kind(self) -> str | None:
        """``initial`` or ``incremental`` for a snapshot read, else None."""
        if self.op != "read":
            return None
        return "incremental" if self.snapshot == "incremental" else "initial"


class EventFormatError(ValueError):
    pass


def xid32(txid: object) -> int | None:
    """A transaction id without its epoch (what Debezium streams), or None."""
    return None if txid is None else int(str(txid).split(":", 1)[0]) % XID_MOD


def xid_precedes(a: int, b: int) -> bool:
    """``a`` was assigned before ``b`` (32-bit xids compared modulo 2^32, as PostgreSQL does)."""
    return 0 < (b - a) % XID_MOD < 2**31


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


def _kind_without_op(value: dict) -> str:
    if value.get("status") in ("BEGIN", "END") and "id" in value:
        return "transaction"
    if "ddl" in value or "tableChanges" in value or "schemaName" in value and "databaseName" in value:
        return "schema_change"
    if set(value) <= {"ts_ms", "ts_us", "ts_ns"} and value:
        return "heartbeat"
    return "other"


def _column_fields(schema: object) -> dict[str, dict] | None:
    """Column name -> field schema of the envelope's ``after`` (or ``before``) struct."""
    if not isinstance(schema, dict):
        return None
    for part in schema.get("fields") or ():
        if isinstance(part, dict) and part.get("field") in ("after", "before") and part.get("fields"):
            return {f["field"]: f for f in part["fields"] if isinstance(f, dict) and "field" in f}
    return None


def parse_envelope(key_doc: object, value_doc: object, number: int) -> ChangeEvent:
    """The event in a decoded key (None when absent) and value (None: a tombstone), wrapped or not."""
    key, value = unwrap(key_doc), unwrap(value_doc)
    if value is None:
        pk = key.get("id") if isinstance(key, dict) else None
        return ChangeEvent(None, "tombstone", pk, None, None, None, None, number)
    if not isinstance(value, dict):
        raise EventFormatError(f"line {number}: not a Debezium record (a JSON {type(value).__name__})")
    if "op" not in value:
        return ChangeEvent(None, _kind_without_op(value), None, None, None, None, None, number, payload=value)
    op = OPS.get(value["op"])
    if op is None:
        raise EventFormatError(f"line {number}: unknown op {value['op']!r}")
    source: dict[str, Any] = value.get("source") or {}
    if op in ("truncate", "message"):
        return ChangeEvent(source.get("table"), op, None, source.get("txId"), source.get("lsn"), None, None, number,
                           transaction=value.get("transaction"), payload=value)  # fmt: skip
    before, after = value.get("before"), value.get("after")
    row = after if after is not None else before
    pk = row.get("id") if isinstance(row, dict) else (key.get("id") if isinstance(key, dict) else None)
    snapshot = source.get("snapshot")
    schema = value_doc.get("schema") if isinstance(value_doc, dict) and "payload" in value_doc else None
    return ChangeEvent(
        source.get("table"),
        op,
        pk,
        source.get("txId"),
        source.get("lsn"),
        before,
        after,
        number,
        snapshot=None if snapshot is None else str(snapshot).lower(),
        transaction=value.get("transaction"),
        fields=_column_fields(schema),
    )


def read_events(lines: Iterable[str]) -> Iterator[ChangeEvent]:
    for number, text in enumerate(lines, 1):
        event = parse_line(text, number)
        if event is not None:
            yield event
