"""Transactions: did each committed transaction arrive whole, with its BEGIN and END?

With ``provide.transaction.metadata=true`` Debezium writes a BEGIN and an END record per
transaction to ``<prefix>.transaction`` (id ``"<xid>"`` or ``"<xid>:<lsn>"``; END carries
``event_count`` and ``data_collections`` [{data_collection, event_count}]) and a ``transaction``
block {id, total_order, data_collection_order} in every change event. Without that topic only
the grouping by txid is checked: a transaction some of whose changes arrived and some not.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from daemon.cdc.debezium import CHANGES, ChangeEvent, xid32
from daemon.pg.tables import TABLES


class ChangeKey(NamedTuple):
    """What identifies a change on both sides (ledger and events); ``txid`` 32-bit or None."""

    table: str | None
    op: str
    pk: int | None
    txid: int | None


@dataclass
class TransactionCheck:
    metadata: bool = False  # the dump holds transaction topic records
    begins: int = 0
    ends: int = 0
    partial: dict[int, list[ChangeKey]] = field(default_factory=dict)  # txid -> its missing changes
    lost: list[int] = field(default_factory=list)  # no change of the transaction arrived
    missing_begin: list[int] = field(default_factory=list)
    missing_end: list[int] = field(default_factory=list)
    duplicate_begin: list[int] = field(default_factory=list)
    duplicate_end: list[int] = field(default_factory=list)
    wrong_end: list[dict[str, Any]] = field(default_factory=list)  # {txid, expected, end}
    unexpected: list[int] = field(default_factory=list)  # BEGIN/END for a txid the ledger lacks
    without_block: list[ChangeKey] = field(default_factory=list)  # change events lacking `transaction`
    wrong_block: list[ChangeKey] = field(default_factory=list)  # transaction.id names another txid

    def failures(self, strict: bool) -> int:
        n = len(self.partial) + len(self.missing_begin) + len(self.missing_end) + len(self.wrong_end)
        n += len(self.without_block) + len(self.wrong_block)
        if strict:
            n += len(self.duplicate_begin) + len(self.duplicate_end) + len(self.unexpected)
        return n


def _table_of(collection: object) -> str:
    return str(collection).rsplit(".", 1)[-1]


def _end_counts(end: Mapping[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in end.get("data_collections") or ():
        if isinstance(item, dict):
            counts[_table_of(item.get("data_collection"))] += int(item.get("event_count") or 0)
    return counts


def check_transactions(
    events: list[ChangeEvent],
    expected: Mapping[ChangeKey, int],
    missing: Mapping[ChangeKey, int],
    credited: Iterable[ChangeKey],
) -> TransactionCheck:
    """``expected``: ledger changes (with txids); ``missing``: those not delivered; ``credited``: snapshot's."""
    check = TransactionCheck()
    by_txid: dict[int, Counter[ChangeKey]] = defaultdict(Counter)
    for key, n in expected.items():
        if key.txid is not None:
            by_txid[key.txid][key] += n
    snapshot_txids = {k.txid for k in credited}
    for txid, changes in sorted(by_txid.items()):
        lost = Counter({k: n for k, n in missing.items() if k.txid == txid})
        if lost and sum(lost.values()) < sum(changes.values()):
            check.partial[txid] = sorted(lost.elements(), key=repr)
        elif lost:
            check.lost.append(txid)
    records = [e.payload for e in events if e.op == "transaction" and e.payload is not None]
    check.metadata = bool(records)
    if not check.metadata:
        return check
    begins: Counter[int] = Counter()
    ends: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        record_txid = xid32(record.get("id"))
        if record_txid is None:
            continue
        txid = record_txid
        if record.get("status") == "BEGIN":
            begins[txid] += 1
        else:
            ends[txid].append(record)
    check.begins, check.ends = sum(begins.values()), sum(map(len, ends.values()))
    for txid, changes in sorted(by_txid.items()):
        if txid in snapshot_txids and txid not in begins and txid not in ends:
            continue  # committed before the snapshot: no transaction records exist for it
        for seen, absent, twice in ((begins[txid], check.missing_begin, check.duplicate_begin),
                                    (len(ends.get(txid, ())), check.missing_end, check.duplicate_end)):  # fmt: skip
            if seen == 0:
                absent.append(txid)
            elif seen > 1:
                twice.append(txid)
        want = Counter({str(table): n for table, n in _per_table(changes).items()})
        for end in ends.get(txid, ()):
            got = _end_counts(end)
            foreign = sum(n for table, n in got.items() if table not in TABLES and table not in want)
            ours = Counter({t: n for t, n in got.items() if t in TABLES or t in want})
            if ours != want or int(end.get("event_count") or 0) - foreign != sum(want.values()):
                check.wrong_end.append(
                    {"txid": txid, "expected": dict(want), "end": dict(got), "event_count": end.get("event_count")}
                )
    check.unexpected = sorted((set(begins) | set(ends)) - set(by_txid))
    for e in events:
        if e.op not in CHANGES:
            continue
        key = ChangeKey(e.table, e.op, e.pk, xid32(e.txid))
        block = e.transaction
        if not isinstance(block, dict) or block.get("id") is None:
            check.without_block.append(key)
        elif key.txid is not None and xid32(block["id"]) != key.txid:
            check.wrong_block.append(key)
    return check


def _per_table(changes: Counter[ChangeKey]) -> Counter[str | None]:
    counts: Counter[str | None] = Counter()
    for key, n in changes.items():
        counts[key.table] += n
    return counts
