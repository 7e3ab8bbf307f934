"""`verify` for the changes that are not row changes, and for the partitioned table.

- **Truncates** (``op: t``, one per ``TRUNCATE`` of a published table): each ledger truncate
  (``Change("fila_triagem", "truncate", 0, txid)``) must arrive once, with its table and txid.
  Debezium skips truncates by default (``skipped.operations=t``): when the ledger has truncates
  and none arrived at all, that is reported as a known loss naming the setting, not a mismatch.
- **Logical decoding messages** (``op: m`` on ``<topic.prefix>.message``): each ledger message
  must arrive once with its prefix and content (Debezium's ``message.content`` is bytes: base64
  in JSON, or hex/base64-url under ``binary.handling.mode``); a transactional one with its txid
  as ``source.txId``, a non-transactional one with a null ``source.txId``. Messages of prefixes
  the ledger never used (another application's, a test's sentinel) are counted, not checked.
- **Partitions** of ``sinais_vitais`` (``sinais_vitais_YYYY_MM``): with the publication's
  ``publish_via_partition_root`` off (PostgreSQL's default) events arrive under each partition's
  name, and are mapped to the parent the ledger names; with it on they arrive under the parent's.
  An event on the wrong side of that setting, or in a partition whose month is not its
  ``medido_em``'s, is a mismatch. The setting is read from the publication itself
  (``pg_publication.pubviaroot``) when verify may connect, else from CDC_PUBLISH_VIA_PARTITION_ROOT.

:func:`split` runs before the reconciliation of row changes: it maps partition events (and the
tables in transaction END records) to the parent and takes the truncates and messages out of the
ledger; :func:`settle` then lets their transactions' BEGIN/END records be expected.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daemon.cdc.debezium import ChangeEvent, xid32
from daemon.cdc.reconcile import Reconciliation
from daemon.cdc.verify_report import listed
from daemon.config import Config
from daemon.pg import connection

PARENTS = ("sinais_vitais",)  # the partitioned tables: partitions are named <parent>_YYYY_MM
PARTITION = re.compile(r"^(?P<parent>.+)_(?P<year>\d{4})_(?P<month>\d{2})$")
PARTITION_KEY = {"sinais_vitais": "medido_em"}
COMPARED = ("fila_triagem", "sinais_vitais")  # opt-in tables compared with the live rows
EDGE_OPS = ("truncate", "message")
MESSAGES = "LogicalDecodingMessage"  # in the data_collection Debezium's END names for a message
SKIPPED_OPERATIONS = "skipped.operations"


@dataclass
class EdgeCheck:
    via_root: bool | None = None  # the publication's publish_via_partition_root (None: unknown)
    truncates: Counter[str] = field(default_factory=Counter)  # ledger truncates per table
    truncates_arrived: Counter[str] = field(default_factory=Counter)
    truncate_missing: list[str] = field(default_factory=list)  # "table txid=n"
    truncate_unexpected: list[str] = field(default_factory=list)
    truncate_duplicated: list[str] = field(default_factory=list)
    truncates_skipped: bool = False  # known loss: none arrived (skipped.operations)
    messages: int = 0  # ledger messages
    messages_arrived: int = 0  # of the ledger's prefixes
    messages_foreign: int = 0  # of other prefixes: not checked
    message_missing: list[str] = field(default_factory=list)
    message_unexpected: list[str] = field(default_factory=list)
    message_duplicated: list[str] = field(default_factory=list)
    message_wrong_txid: list[str] = field(default_factory=list)
    partition_events: Counter[str] = field(default_factory=Counter)  # partition -> events mapped to the parent
    parent_events: Counter[str] = field(default_factory=Counter)  # parent -> events under its own name
    wrong_route: list[str] = field(default_factory=list)
    wrong_partition: list[str] = field(default_factory=list)
    txids: set[int] = field(default_factory=set)  # 32-bit txids of the ledger's truncates and messages
    in_transaction: dict[int, Counter[str]] = field(default_factory=dict)  # txid -> table (or MESSAGES) -> n

    def failures(self, strict: bool) -> int:
        n = len(self.truncate_missing) + len(self.message_missing) + len(self.message_wrong_txid)
        n += len(self.wrong_route) + len(self.wrong_partition)
        if strict:
            n += len(self.truncate_unexpected) + len(self.truncate_duplicated)
            n += len(self.message_unexpected) + len(self.message_duplicated)
        return n

    @property
    def used(self) -> bool:
        return bool(
            self.truncates or self.truncates_arrived or self.messages or self.messages_arrived
            or self.partition_events or self.parent_events
        )  # fmt: skip

    def lines(self) -> list[str]:
        """The text report's lines (none when the dump and ledger hold nothing of this)."""
        out: list[str] = []
        if self.truncates or self.truncates_arrived:
            per_table = ", ".join(f"{t} {n}" for t, n in sorted(self.truncates.items())) or "none"
            out.append(f"truncates: ledger {per_table}; arrived {sum(self.truncates_arrived.values())}")
        if self.truncates_skipped:
            out.append(
                f"known loss: {sum(self.truncates.values())} truncate(s) not delivered: Debezium skips "
                f"truncates unless {SKIPPED_OPERATIONS}=none (its default is 't'); rows of a truncated table "
                "end at the truncate without delete events"
            )
        if self.messages or self.messages_arrived or self.messages_foreign:
            out.append(
                f"logical decoding messages: ledger {self.messages}, arrived {self.messages_arrived}"
                + (f", {self.messages_foreign} of other prefixes (not checked)" if self.messages_foreign else "")
            )
        for parent, n in sorted(self.parent_events.items()):
            out.append(f"partitioned table {parent}: {n} event(s) under the parent's name")
        if self.partition_events:
            parts = ", ".join(f"{p} {n}" for p, n in sorted(self.partition_events.items()))
            out.append(f"partition events mapped to their parent: {parts}")
        if self.via_root is not None and (self.partition_events or self.parent_events):
            out.append(f"publish_via_partition_root = {str(self.via_root).lower()}")
        for label, items in (
            ("truncate missing", self.truncate_missing),
            ("truncate duplicated", self.truncate_duplicated),
            ("truncate unexpected", self.truncate_unexpected),
            ("message missing", self.message_missing),
            ("message duplicated", self.message_duplicated),
            ("message unexpected", self.message_unexpected),
            ("message with the wrong txId", self.message_wrong_txid),
            ("partition routing disagrees with publish_via_partition_root", self.wrong_route),
            ("event in the wrong partition", self.wrong_partition),
        ):
            out.extend(listed(label, items))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "publish_via_partition_root": self.via_root,
            "truncates": {
                "ledger": dict(self.truncates),
                "arrived": dict(self.truncates_arrived),
                "known_loss": f"{SKIPPED_OPERATIONS} (truncates skipped)" if self.truncates_skipped else None,
                "missing": self.truncate_missing,
                "duplicated": self.truncate_duplicated,
                "unexpected": self.truncate_unexpected,
            },
            "messages": {
                "ledger": self.messages,
                "arrived": self.messages_arrived,
                "foreign": self.messages_foreign,
                "missing": self.message_missing,
                "duplicated": self.message_duplicated,
                "unexpected": self.message_unexpected,
                "wrong_txid": self.message_wrong_txid,
            },
            "partitions": {
                "mapped": dict(self.partition_events),
                "parent": dict(self.parent_events),
                "wrong_route": self.wrong_route,
                "wrong_partition": self.wrong_partition,
            },
        }


def publication_via_root(config: Config | None, live: bool) -> bool | None:
    """The publication's publish_via_partition_root: read from PostgreSQL when ``live`` and the
    publication exists, else CDC_PUBLISH_VIA_PARTITION_ROOT (None without a config)."""
    if config is None:
        return None
    if live and config.cdc.publication:
        conn = connection.connect(config.pg, "verify")
        try:
            with connection.transaction(conn) as cur:
                cur.execute("SELECT pubviaroot FROM pg_publication WHERE pubname = %s", (config.cdc.publication,))
                row = cur.fetchone()
        finally:
            connection.close_quietly(conn)
        if row is not None:
            return bool(row[0])
    return config.cdc.publish_via_partition_root


def _parent_of(table: str | None) -> tuple[str, str] | None:
    """(parent, "YYYY-MM") of a partition's name, else None."""
    match = PARTITION.match(table or "")
    if match is None or match["parent"] not in PARENTS:
        return None
    return match["parent"], f"{match['year']}-{match['month']}"


def _month(value: object) -> str | None:
    """``YYYY-MM`` (UTC) of a timestamptz as Debezium renders it (ZonedTimestamp: ISO-8601 text)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def _map_partitions(events: list[ChangeEvent], check: EdgeCheck) -> list[ChangeEvent]:
    mapped: list[ChangeEvent] = []
    for event in events:
        if event.op == "transaction" and event.payload is not None and event.payload.get("data_collections"):
            mapped.append(dataclasses.replace(event, payload=_map_end(event.payload)))
            continue
        partition = _parent_of(event.table)
        if partition is None:
            if event.table in PARENTS and event.op not in EDGE_OPS:
                check.parent_events[event.table] += 1
                if check.via_root is False:
                    check.wrong_route.append(
                        f"{event.table} {event.op} id={event.pk} line {event.line} (expected a partition)"
                    )
            mapped.append(event)
            continue
        parent, month = partition
        check.partition_events[str(event.table)] += 1
        if check.via_root is True:
            check.wrong_route.append(f"{event.table} {event.op} id={event.pk} line {event.line} (expected {parent})")
        row = event.after if event.after is not None else event.before
        actual = _month((row or {}).get(PARTITION_KEY[parent]))
        if actual is not None and actual != month:
            check.wrong_partition.append(f"{event.table} id={event.pk} line {event.line}: measured in {actual}")
        mapped.append(dataclasses.replace(event, table=parent))
    return mapped


def _map_end(payload: dict[str, Any]) -> dict[str, Any]:
    collections = []
    for item in payload.get("data_collections") or ():
        if isinstance(item, dict):
            schema, _, table = str(item.get("data_collection")).rpartition(".")
            partition = _parent_of(table)
            if partition is not None:
                item = {**item, "data_collection": f"{schema}.{partition[0]}" if schema else partition[0]}
        collections.append(item)
    merged: dict[str, dict[str, Any]] = {}
    for item in collections:  # two partitions of one parent in one transaction: one entry
        if isinstance(item, dict):
            name = str(item.get("data_collection"))
            if name in merged:
                count = int(merged[name].get("event_count") or 0) + int(item.get("event_count") or 0)
                merged[name] = {**merged[name], "event_count": count}
            else:
                merged[name] = item
    return {**payload, "data_collections": list(merged.values())}


def _encodings(content: str) -> list[str]:
    """Every way Debezium may render a message's content (binary.handling.mode), and the text."""
    raw = content.encode()
    return [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), raw.hex(), content]


def _check_truncates(events: list[ChangeEvent], edges: list[dict[str, Any]], check: EdgeCheck) -> None:
    expected = Counter((str(e["table"]), xid32(e.get("txid"))) for e in edges if e["op"] == "truncate")
    arrived = Counter((str(e.table), xid32(e.txid)) for e in events if e.op == "truncate")
    for (table, _), n in expected.items():
        check.truncates[table] += n
    for (table, _), n in arrived.items():
        check.truncates_arrived[table] += n
    if expected and not arrived:
        check.truncates_skipped = True
        return
    for (table, txid), n in sorted(expected.items(), key=repr):
        seen = arrived.get((table, txid), 0)
        if seen < n:
            check.truncate_missing.extend([f"{table} txid={txid}"] * (n - seen))
        elif seen > n:
            check.truncate_duplicated.extend([f"{table} txid={txid}"] * (seen - n))
    for (table, txid), n in sorted(arrived.items(), key=repr):
        if (table, txid) not in expected:
            check.truncate_unexpected.extend([f"{table} txid={txid}"] * n)


def _check_messages(events: list[ChangeEvent], edges: list[dict[str, Any]], check: EdgeCheck) -> None:
    ledger = [e for e in edges if e["op"] == "message"]
    check.messages = len(ledger)
    prefixes = {str(e.get("prefix")) for e in ledger}
    # (prefix, rendered content) -> the ledger messages it may be
    wanted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in ledger:
        for rendered in dict.fromkeys(_encodings(str(entry.get("content")))):
            wanted.setdefault((str(entry.get("prefix")), rendered), []).append(entry)
    remaining = Counter(id(e) for e in ledger)
    for event in events:
        if event.op != "message":
            continue
        message = (event.payload or {}).get("message") or {}
        prefix, content = str(message.get("prefix")), message.get("content")
        if prefix not in prefixes:
            check.messages_foreign += 1
            continue
        check.messages_arrived += 1
        candidates = wanted.get((prefix, str(content)), [])
        if not candidates:
            check.message_unexpected.append(f"prefix={prefix} line {event.line}: content not in the ledger")
            continue
        unmatched = [c for c in candidates if remaining[id(c)] > 0]
        if not unmatched:
            txid = xid32(candidates[0].get("txid"))
            check.message_duplicated.append(f"prefix={prefix} txid={txid} line {event.line}")
            continue
        entry = unmatched[0]
        remaining[id(entry)] -= 1
        transactional = bool(entry.get("transactional", True))
        want = xid32(entry.get("txid")) if transactional else None
        if xid32(event.txid) != want:
            check.message_wrong_txid.append(
                f"prefix={prefix} line {event.line}: source.txId {event.txid} "
                f"(expected {want if transactional else 'null: a non-transactional message'})"
            )
    for entry in ledger:
        if remaining[id(entry)] > 0:
            kind = "transactional" if entry.get("transactional", True) else "non-transactional"
            check.message_missing.append(f"prefix={entry.get('prefix')} txid={xid32(entry.get('txid'))} ({kind})")


def split(
    events: list[ChangeEvent], ledger: Iterable[dict[str, Any]] | None, via_root: bool | None
) -> tuple[list[ChangeEvent], list[dict[str, Any]] | None, EdgeCheck]:
    """The events with partitions mapped to their parent, the ledger without its truncates and
    messages (checked here), and the check's findings."""
    check = EdgeCheck(via_root=via_root)
    mapped = _map_partitions(events, check)
    if ledger is None:
        check.truncates_arrived = Counter(str(e.table) for e in events if e.op == "truncate")
        check.messages_foreign = sum(e.op == "message" for e in events)
        return mapped, None, check
    entries = list(ledger)
    edges = [e for e in entries if e.get("op") in EDGE_OPS]
    check.txids = {t for t in (xid32(e.get("txid")) for e in edges) if t is not None}
    for e in edges:  # what each transaction's END must count: its truncates, its transactional message
        if e["op"] == "truncate" or e.get("transactional", True):
            check.in_transaction.setdefault(xid32(e.get("txid")) or 0, Counter())[str(e["table"]) or MESSAGES] += 1
    _check_truncates(mapped, edges, check)
    _check_messages(mapped, edges, check)
    return mapped, [e for e in entries if e.get("op") not in EDGE_OPS], check


def compared(check: EdgeCheck) -> tuple[str, ...]:
    """The opt-in tables whose final state the events imply can be compared with the live rows:
    the partitioned table (mapped to its parent), and a truncated table only when its truncates
    arrived (a sink that never saw a TRUNCATE still holds the rows it removed)."""
    lost = set(check.truncates) if check.truncates_skipped else {m.split(" ")[0] for m in check.truncate_missing}
    return tuple(t for t in COMPARED if t not in lost)


def settle(rec: Reconciliation, check: EdgeCheck, events: list[ChangeEvent]) -> None:
    """The BEGIN/END records of the ledger's truncate and message transactions are expected (the
    reconciliation of row changes, which knows only row changes, calls them unexpected), and an
    END of theirs must count what the ledger says: its table's truncate, or its transactional
    message (Debezium names that data collection after its ``LogicalDecodingMessageId``). A
    skipped truncate's transaction has no BEGIN/END; a non-transactional message has none either."""
    tx = rec.transactions
    tx.unexpected = [t for t in tx.unexpected if t not in check.txids]
    for event in events:
        if event.op != "transaction" or not event.payload or event.payload.get("status") != "END":
            continue
        txid = xid32(event.payload.get("id"))
        want = check.in_transaction.get(txid or 0)
        if check.truncates_skipped and want is not None:  # the END (if any) counts no truncate
            want = Counter({k: n for k, n in want.items() if k == MESSAGES})
        if txid not in check.txids or not want:
            continue
        got = _end_counts(event.payload)
        if got != want or int(event.payload.get("event_count") or 0) != sum(want.values()):
            tx.wrong_end.append(
                {
                    "txid": txid,
                    "expected": dict(want),
                    "end": dict(got),
                    "event_count": event.payload.get("event_count"),
                }
            )


def _end_counts(end: dict[str, Any]) -> Counter[str]:
    """An END's event count per table, a logical message's data collection (however Debezium
    names it: ``…LogicalDecodingMessageId@…``, ``LOGICAL_DECODING_MESSAGE``) counted as MESSAGES."""
    counts: Counter[str] = Counter()
    for item in end.get("data_collections") or ():
        if isinstance(item, dict):
            name = str(item.get("data_collection"))
            is_message = MESSAGES.lower() in name.lower().replace("_", "")
            counts[MESSAGES if is_message else name.rsplit(".", 1)[-1]] += int(item.get("event_count") or 0)
    return counts
