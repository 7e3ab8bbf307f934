"""`verify` for schema changes made while streaming (STREAM_DDL_EVERY_SECONDS on ``faturamento``).

The daemon runs a fixed sequence of DDL steps, each its own transaction, and records each in the
ledger as a change of no row (``op: ddl``, pk 0) with what it did: ``add_column`` (``column``,
``default``), ``drop_column``, ``alter_type`` (a widening: ``old_width`` -> ``width``) and
``add_enum_value`` (``type``, ``label``, on the table's ``column``). pgoutput and Debezium emit no
DDL events: the connector learns a table's new shape from the Relation message before its next
change, so each change event must carry the shape its table had when it committed.

**Ordering.** A column DDL holds an ACCESS EXCLUSIVE lock on its table from before its txid is
assigned until its commit, and every stream event on the table is one statement holding ROW
EXCLUSIVE from before its txid is assigned until its commit. The two exclude each other, so a
change event *committed after* a DDL is exactly one whose txid *follows* the DDL's: 32-bit xids
(Debezium's ``source.txId``; the ledger's ``txid_current()`` without its epoch, :func:`xid32`)
compared modulo 2^32 as PostgreSQL does (:func:`xid_precedes`). ``ALTER TYPE ... ADD VALUE``
takes no lock on the table; for it only this holds: a label cannot be used before its commit, so
an event carrying it must follow the step.

**Snapshot reads are not checked.** A read's ``source.txId`` is its snapshot transaction's, and
that transaction reads the table's shape from the catalogue (current) apart from its rows (its
snapshot): its txid does not place its columns before or after a DDL. They are counted.

Checks, for the insert and update events of the tables the ledger's DDL altered (``after``):

- ``add_column`` / ``drop_column``: where the column exists (after its ADD, before its DROP) the
  event has its value (the key, null included) and, in a dump with schemas, its field schema;
  where it does not exist the event has neither.
- ``alter_type`` (a widening): a value longer than ``old_width`` before the step is a mismatch;
  after it such values are counted (proof the wider values flowed). With
  ``column.propagate.source.type`` the field schema's ``__debezium.source.column.length`` must be
  ``old_width`` before the step and ``width`` after it.
- ``add_enum_value``: an event carrying the label before the step is a mismatch. Debezium primes
  its type registry at connector start and does not refresh an enum's values after ``ADD VALUE``
  (a connector restart does): an event whose ``io.debezium.data.Enum`` schema lacks the label in
  ``allowed`` is a *known loss*, never a failure; one whose schema lists it is delivered with it.

:func:`split` takes the DDL out of the ledger before the reconciliation of row changes (they are
no row changes) and checks the events; :func:`settle` lets the DDL transactions' BEGIN/END
records be expected (a DDL transaction has them when it writes a published row, e.g. a published
LEDGER_TABLE). :meth:`DdlCheck.added_defaults` tells the final-state comparison which live columns
the events may never have carried: a row whose last event preceded an ADD COLUMN holds its default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

from daemon.cdc.debezium import ChangeEvent, xid32, xid_precedes
from daemon.cdc.reconcile import Reconciliation
from daemon.cdc.verify_report import listed

ADD, DROP, WIDEN, ENUM = "add_column", "drop_column", "alter_type", "add_enum_value"
ROW_EVENTS = ("insert", "update")
ENUM_SCHEMA = "io.debezium.data.Enum"
SOURCE_LENGTH = "__debezium.source.column.length"  # column.propagate.source.type
MISMATCHES = {  # key (the JSON report's) -> the text report's label
    "column_missing": "schema change: column missing where it exists",
    "column_present": "schema change: column present where it does not exist",
    "long_before_widen": "schema change: value longer than the old width before the widen",
    "wrong_source_length": "schema change: wrong source column length",
    "label_before_step": "schema change: enum label before its ALTER TYPE",
}
UNCHECKED = "schema change not checked (kind or detail unknown to verify)"
REGISTRY = "Debezium's type registry is primed at connector start; a restart refreshes it"


@dataclass
class Step:
    """One DDL of the ledger, and what the events showed about it."""

    name: str
    kind: str
    table: str
    column: str
    txid: int  # 32-bit
    entry: dict[str, Any]  # the ledger line (default, old_width/width, type/label)
    before: int = 0  # events of its table committed before it
    after: int = 0
    longer: int = 0  # alter_type: values longer than the old width after it
    lengths: int = 0  # alter_type: field schemas whose source length is the expected one
    carried: int = 0  # add_enum_value: events carrying the label
    listed: int = 0  # ... whose enum schema lists it in ``allowed``
    unlisted: int = 0  # ... whose enum schema does not (known loss)

    def follows(self, txid: int) -> bool:
        """An event of ``txid`` committed after this step (see the module docstring)."""
        return xid_precedes(self.txid, txid)

    def summary(self) -> str:
        where = f"{self.name}: {self.table}.{self.column}"
        sides = f"{self.before} event(s) before it, {self.after} after it"
        if self.kind == ADD:
            default = self.entry.get("default")
            return (
                f"{where} added at txid {self.txid} (default {'NULL' if default is None else repr(default)}): {sides}"
            )
        if self.kind == DROP:
            return f"{where} dropped at txid {self.txid}: {sides}"
        if self.kind == WIDEN:
            widths = f"{self.entry['old_width']} -> {self.entry['width']}"
            return (
                f"{where} widened {widths} at txid {self.txid}: {sides}; {self.longer} value(s) longer than the "
                f"old width after it; {self.lengths} field schema(s) with the expected source column length"
            )
        return (
            f"{where} ({self.entry.get('type')}) gains {self.entry['label']!r} at txid {self.txid}: {self.carried} "
            f"event(s) carry it, {self.listed} with it in the schema's allowed values, {self.unlisted} without"
        )

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"step": self.name, "ddl": self.kind, "table": self.table, "column": self.column,
                                 "txid": self.txid, "before": self.before, "after": self.after}  # fmt: skip
        if self.kind == ADD:
            found["default"] = self.entry.get("default")
        elif self.kind == WIDEN:
            found.update(old_width=self.entry["old_width"], width=self.entry["width"], longer=self.longer,
                         source_lengths=self.lengths)  # fmt: skip
        elif self.kind == ENUM:
            found.update(label=self.entry["label"], carried=self.carried, listed=self.listed, unlisted=self.unlisted)
        return found


@dataclass
class DdlCheck:
    """The ledger's DDL and what the events showed: each mismatch is a failure; with ``strict`` so is
    a DDL of a kind (or lacking the detail) this module cannot check."""

    steps: list[Step] = field(default_factory=list)  # in commit order
    unchecked: list[str] = field(default_factory=list)  # ledger DDL verify cannot check: strict failures
    checked: int = 0  # events checked against the steps
    reads: int = 0  # snapshot reads (or events without a txid) of the altered tables: not checked
    txids: set[int] = field(default_factory=set)  # 32-bit txids of the ledger's DDL
    mismatches: dict[str, list[str]] = field(default_factory=lambda: {key: [] for key in MISMATCHES})

    def failures(self, strict: bool) -> int:
        return sum(map(len, self.mismatches.values())) + (len(self.unchecked) if strict else 0)

    def add(self, key: str, event: ChangeEvent, what: str) -> None:
        self.mismatches[key].append(f"{event.table} id={event.pk} txid={xid32(event.txid)} line {event.line}: {what}")

    def known_losses(self) -> list[str]:
        return [
            f"known loss: {s.table}.{s.column} label {s.entry['label']!r} missing from the schema's allowed values "
            f"({REGISTRY}) ({s.unlisted} value{'' if s.unlisted == 1 else 's'})"
            for s in self.steps
            if s.unlisted
        ]

    def lines(self) -> list[str]:
        """The text report's lines (none when the ledger holds no DDL)."""
        if not self.steps and not self.unchecked:
            return []
        names = [s.name for s in self.steps] + self.unchecked
        tables = ", ".join(sorted({s.table for s in self.steps})) or "no table's"
        reads = f"; {self.reads} snapshot read(s) not checked (a read's txid does not order its columns)"
        out = [
            f"schema changes: {len(names)} in the ledger ({', '.join(names)}); {tables} events checked against "
            f"them: {self.checked}" + (reads if self.reads else "")
        ]
        out.extend(f"  {s.summary()}" for s in self.steps)
        out.extend(self.known_losses())
        for key, label in (*MISMATCHES.items(), ("unchecked", UNCHECKED)):
            items = self.unchecked if key == "unchecked" else self.mismatches[key]
            out.extend(listed(label, items))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.as_dict() for s in self.steps],
            "checked": self.checked,
            "reads_not_checked": self.reads,
            "known_losses": [
                {"table": s.table, "column": s.column, "label": s.entry["label"], "count": s.unlisted}
                for s in self.steps
                if s.unlisted
            ],
            "mismatches": self.mismatches,
            "unchecked": self.unchecked,
        }

    def added_defaults(self) -> dict[str, dict[str, object]]:
        """table -> column -> default of each column the ledger's DDL added (and left in place): a
        row whose last event preceded the ADD COLUMN holds the default without an event saying so."""
        found: dict[str, dict[str, object]] = {}
        for step in self.steps:
            if step.kind == ADD and "default" in step.entry:
                found.setdefault(step.table, {})[step.column] = step.entry["default"]
            elif step.kind == DROP:
                found.get(step.table, {}).pop(step.column, None)
        return found


def matches_default(live: object, default: object) -> bool:
    """A live value is the ADD COLUMN's default (NULL, or a constant the ledger writes as text)."""
    return live is None if default is None else live is not None and str(live) == str(default)


def _step(entry: dict[str, Any]) -> Step | None:
    """The ledger line as a :class:`Step`, or None when it lacks what its kind's check needs."""
    kind, txid = entry.get("ddl"), xid32(entry.get("txid"))
    needs = {ADD: (), DROP: (), WIDEN: ("old_width", "width"), ENUM: ("label",)}.get(str(kind))
    if needs is None or txid is None or not entry.get("column") or any(k not in entry for k in needs):
        return None
    if kind == WIDEN and not all(isinstance(entry[k], int) for k in needs):
        return None
    return Step(str(entry.get("step") or kind), str(kind), str(entry.get("table")), str(entry["column"]), txid, entry)


def _in_commit_order(a: Step, b: Step) -> int:
    return -1 if xid_precedes(a.txid, b.txid) else 1 if xid_precedes(b.txid, a.txid) else 0


def _check_presence(event: ChangeEvent, txid: int, steps: list[Step], check: DdlCheck) -> None:
    """The column's value and field schema are there exactly where its ADD/DROP steps say it exists."""
    earlier = [s for s in steps if s.follows(txid)]
    decisive = earlier[-1] if earlier else steps[0]
    exists = decisive.kind == ADD if earlier else decisive.kind == DROP  # before its first step
    column, after = decisive.column, event.after or {}
    parts = {"value": column in after}
    if event.fields is not None:
        parts["field schema"] = column in event.fields
    where = f"{column} {'after' if earlier else 'before'} {decisive.name} (txid {decisive.txid})"
    if exists and not all(parts.values()):
        check.add("column_missing", event, f"{where} without its {' and '.join(p for p, v in parts.items() if not v)}")
    elif not exists and any(parts.values()):
        check.add("column_present", event, f"{where} with its {' and '.join(p for p, v in parts.items() if v)}")


def _check_widen(event: ChangeEvent, txid: int, step: Step, check: DdlCheck) -> None:
    value, later = (event.after or {}).get(step.column), step.follows(txid)
    old, wide = step.entry["old_width"], step.entry["width"]
    if isinstance(value, str) and len(value) > old:
        if later:
            step.longer += 1
        else:
            what = f"{step.column} holds {len(value)} characters before {step.name} (txid {step.txid}, old width {old})"
            check.add("long_before_widen", event, what)
    length = (((event.fields or {}).get(step.column) or {}).get("parameters") or {}).get(SOURCE_LENGTH)
    if length is None:
        return
    want = wide if later else old
    if str(length) == str(want):
        step.lengths += 1
    else:
        side = "after" if later else "before"
        what = f"{step.column} {SOURCE_LENGTH}={length} {side} {step.name} (txid {step.txid}), expected {want}"
        check.add("wrong_source_length", event, what)


def _check_label(event: ChangeEvent, txid: int, step: Step, check: DdlCheck) -> None:
    label = step.entry["label"]
    if (event.after or {}).get(step.column) != label:
        return
    step.carried += 1
    if not step.follows(txid):
        check.add("label_before_step", event, f"{step.column} = {label!r} before {step.name} (txid {step.txid})")
        return
    schema = (event.fields or {}).get(step.column)
    if schema is None or schema.get("name") != ENUM_SCHEMA:
        return  # no enum schema to list the label: delivered, nothing more to say
    allowed = str((schema.get("parameters") or {}).get("allowed", "")).split(",")
    if label in allowed:
        step.listed += 1
    else:
        step.unlisted += 1


def _check_events(events: list[ChangeEvent], check: DdlCheck) -> None:
    by_column: dict[tuple[str, str], list[Step]] = {}
    for step in check.steps:
        if step.kind in (ADD, DROP):
            by_column.setdefault((step.table, step.column), []).append(step)
    tables = {s.table for s in check.steps}
    for event in events:
        if event.table not in tables:
            continue
        txid = xid32(event.txid)
        if event.op == "read" or (event.op in ROW_EVENTS and txid is None):
            check.reads += 1
            continue
        if event.op not in ROW_EVENTS or event.after is None or txid is None:
            continue
        check.checked += 1
        for step in check.steps:
            if step.table != event.table:
                continue
            if step.follows(txid):
                step.after += 1
            else:
                step.before += 1
            if step.kind == WIDEN:
                _check_widen(event, txid, step, check)
            elif step.kind == ENUM:
                _check_label(event, txid, step, check)
        for (table, _), steps in by_column.items():
            if table == event.table:
                _check_presence(event, txid, steps, check)


def split(
    events: list[ChangeEvent], ledger: Iterable[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]] | None, DdlCheck]:
    """The ledger without its DDL (no row changes), and the check of the events against that DDL."""
    check = DdlCheck()
    if ledger is None:
        return None, check
    entries = list(ledger)
    ddl = [e for e in entries if e.get("op") == "ddl"]
    check.txids = {t for t in (xid32(e.get("txid")) for e in ddl) if t is not None}
    for entry in ddl:
        step = _step(entry)
        if step is None:
            check.unchecked.append(f"{entry.get('step')} ({entry.get('ddl')}, txid {entry.get('txid')})")
        else:
            check.steps.append(step)
    check.steps.sort(key=cmp_to_key(_in_commit_order))
    _check_events(events, check)
    return [e for e in entries if e.get("op") != "ddl"], check


def settle(rec: Reconciliation, check: DdlCheck) -> None:
    """The BEGIN/END records of the ledger's DDL transactions are expected (the reconciliation of
    row changes, which knows none of their changes, calls them unexpected)."""
    tx = rec.transactions
    tx.unexpected = [t for t in tx.unexpected if t not in check.txids]
