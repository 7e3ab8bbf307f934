"""Reconciling Debezium's change events with the ledger: missing, duplicated, unexpected, snapshot credit.

A ledger change that never arrived as a change event is credited to the connector's initial
snapshot only when it committed before it. The snapshot runs in one repeatable-read transaction
whose xid is every snapshot read's ``source.txId``; a change is credited when its xid precedes
that one, no event of its transaction was streamed (a transaction still open when the snapshot
began is streamed, not read) and the snapshot read its row -- or, for a row deleted before the
snapshot, the delete precedes the snapshot too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from daemon.cdc.debezium import CHANGES, OTHER_KINDS, ChangeEvent, xid32, xid_precedes
from daemon.cdc.transactions import ChangeKey, TransactionCheck, check_transactions
from daemon.cdc.values import Placeholder


class TableOp(NamedTuple):
    table: str | None  # None: an event that names no table
    op: str  # insert | update | delete


class RowKey(NamedTuple):
    table: str | None
    pk: int | None


class Origin(NamedTuple):
    """The event that set a value: its operation, 32-bit txid and line in the dump."""

    op: str
    txid: int | None
    line: int


class Difference(NamedTuple):
    """A column whose live value differs from the value the events imply (``*``: the row itself)."""

    table: str
    pk: int | None
    column: str
    live: object
    event: object
    origin: Origin | None = None


@dataclass
class Reconciliation:
    ledger: Counter[TableOp] = field(default_factory=Counter)
    captured: Counter[TableOp] = field(default_factory=Counter)
    missing: Counter[TableOp] = field(default_factory=Counter)
    duplicated: Counter[TableOp] = field(default_factory=Counter)
    unexpected: Counter[TableOp] = field(default_factory=Counter)
    in_snapshot: Counter[TableOp] = field(default_factory=Counter)  # changes credited to snapshot reads
    missing_keys: list[ChangeKey] = field(default_factory=list)
    duplicated_keys: list[ChangeKey] = field(default_factory=list)
    unexpected_keys: list[ChangeKey] = field(default_factory=list)
    reads: Counter[str] = field(default_factory=Counter)  # initial | incremental
    snapshot_txids: list[int] = field(default_factory=list)
    other: Counter[str] = field(default_factory=Counter)  # records that are not row changes, by kind
    tombstones: int = 0
    deletes: int = 0
    transactions: TransactionCheck = field(default_factory=TransactionCheck)
    # Unavailable-value placeholders on changes the ledger marked (an unchanged TOAST value under
    # REPLICA IDENTITY DEFAULT), and placeholders where it did not: a value lost on the way.
    placeholders_expected: int = 0
    placeholders_unmarked: list[ChangeKey] = field(default_factory=list)

    @property
    def missing_examples(self) -> list[ChangeKey]:
        return self.missing_keys[:20]


@dataclass
class StateCheck:
    rows: int = 0
    differences: list[Difference] = field(default_factory=list)
    unavailable: int = 0
    losses: Counter[Any] = field(default_factory=Counter)  # verify_types.Loss -> values: known, never failures
    defaults: int = 0  # values of columns added while streaming, compared with the ADD COLUMN's default


def _key(table: str | None, op: str, pk: int | None, txid: object) -> ChangeKey:
    return ChangeKey(table, op, pk, xid32(txid))


class _Snapshot:
    """Which ledger changes the initial snapshot may stand for (see the module docstring)."""

    def __init__(self, events: list[ChangeEvent], changes: list[ChangeEvent]) -> None:
        self.read: dict[RowKey, set[int]] = {}
        for e in events:
            if e.snapshot_kind == "initial" and e.txid is not None:
                self.read.setdefault(RowKey(e.table, e.pk), set()).add(xid32(e.txid) or 0)
        self.txids = sorted({x for xs in self.read.values() for x in xs})
        self.streamed_txids = {xid32(e.txid) for e in changes}
        self.streamed_rows = {RowKey(e.table, e.pk) for e in changes}

    def precedes(self, txid: int, snapshots: Iterable[int]) -> bool:
        return any(xid_precedes(txid, s) for s in snapshots)

    def credits(self, key: ChangeKey, deleted_by: dict[RowKey, int]) -> bool:
        if key.txid is None or not self.txids or key.txid in self.streamed_txids:
            return False
        row = RowKey(key.table, key.pk)
        if row in self.read:
            return key.op != "delete" and self.precedes(key.txid, self.read[row])
        gone = deleted_by.get(row)  # never read: deleted before the snapshot, or nothing to credit
        return (
            gone is not None
            and row not in self.streamed_rows
            and self.precedes(gone, self.txids)
            and self.precedes(key.txid, self.txids)
        )


def check_placeholders(
    result: Reconciliation, changes: list[ChangeEvent], entries: list[dict[str, Any]], placeholder: Placeholder
) -> None:
    """Compare the placeholders that arrived with the ledger's ``unchanged_toast`` marks.

    Only with a ledger that marks (written by a daemon that knows about unchanged TOAST values):
    an older one says nothing either way.
    """
    if not any("unchanged_toast" in e for e in entries):
        return
    marked = {
        (_key(e["table"], e["op"], e["pk"], e["txid"]), column)
        for e in entries
        for column in e.get("unchanged_toast", ())
    }
    for event in changes:
        key = _key(event.table, event.op, event.pk, event.txid)
        for column, value in (event.after or {}).items():
            if placeholder.matches(value):
                if (key, column) in marked:
                    result.placeholders_expected += 1
                else:
                    result.placeholders_unmarked.append(key)


def reconcile(
    events: list[ChangeEvent], ledger: Iterable[dict[str, Any]] | None, placeholder: Placeholder | None = None
) -> Reconciliation:
    result = Reconciliation()
    changes = [e for e in events if e.op in CHANGES]
    result.reads = Counter(e.snapshot_kind for e in events if e.snapshot_kind)
    result.other = Counter(e.op for e in events if e.op in OTHER_KINDS)
    result.tombstones = sum(e.op == "tombstone" for e in events)
    result.deletes = sum(e.op == "delete" for e in events)
    for e in changes:
        result.captured[TableOp(e.table, e.op)] += 1
    snapshot = _Snapshot(events, changes)
    result.snapshot_txids = snapshot.txids
    if ledger is None:
        return result
    entries = list(ledger)
    use_txid = all(e.get("txid") is not None for e in entries) and all(e.txid is not None for e in changes)
    expected = Counter(_key(e["table"], e["op"], e["pk"], e["txid"] if use_txid else None) for e in entries)
    got = Counter(_key(e.table, e.op, e.pk, e.txid if use_txid else None) for e in changes)
    deleted_by = {RowKey(k.table, k.pk): k.txid for k in expected if k.op == "delete" and k.txid is not None}
    missing: Counter[ChangeKey] = Counter()
    credited: list[ChangeKey] = []
    for key, n in sorted(expected.items(), key=lambda kv: repr(kv[0])):
        table_op = TableOp(key.table, key.op)
        result.ledger[table_op] += n
        seen = got.get(key, 0)
        if seen < n and snapshot.credits(key, deleted_by):
            result.in_snapshot[table_op] += n - seen
            credited.append(key)
        elif seen < n:
            result.missing[table_op] += n - seen
            missing[key] += n - seen
            result.missing_keys.extend([key] * (n - seen))
        elif seen > n:
            result.duplicated[table_op] += seen - n
            result.duplicated_keys.extend([key] * (seen - n))
    for key, n in sorted(got.items(), key=lambda kv: repr(kv[0])):
        if key not in expected:
            result.unexpected[TableOp(key.table, key.op)] += n
            result.unexpected_keys.extend([key] * n)
    if use_txid:
        result.transactions = check_transactions(events, expected, missing, credited)
        check_placeholders(result, changes, entries, placeholder or Placeholder())
    return result
