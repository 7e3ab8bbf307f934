"""`verify`'s report: text for people, ``--json`` for machines (the same facts in both)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from daemon.cdc.transactions import ChangeKey

if TYPE_CHECKING:
    from daemon.cdc.reconcile import Difference, Reconciliation, StateCheck

SHOWN = 20  # per list in the text report; the JSON report lists everything


def listed(label: str, items: Sequence[object]) -> list[str]:
    """The text report's lines for a list: ``  <label>: <item>``, the first SHOWN of them, then how
    many more there are."""
    lines = [f"  {label}: {item}" for item in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"  ... {len(items) - SHOWN} more {label} (--json lists all)")
    return lines


def failures(rec: Reconciliation, state: StateCheck | None, strict: bool) -> int:
    bad = sum(rec.missing.values()) + (len(state.differences) if state else 0) + rec.transactions.failures(strict)
    bad += len(rec.placeholders_unmarked)
    if strict:
        bad += sum(rec.duplicated.values()) + sum(rec.unexpected.values())
    return bad


def _change(key: ChangeKey) -> str:
    return f"{key.table} {key.op} id={key.pk} txid={key.txid}"


def _origin(d: Difference) -> str:
    return f" (set by {d.origin.op} txid={d.origin.txid}, line {d.origin.line})" if d.origin else ""


def print_report(
    out: TextIO,
    rec: Reconciliation,
    state: StateCheck | None,
    ledger_used: bool,
    bad: int,
    extra_lines: Sequence[str] = (),
) -> None:
    """``extra_lines``: further checks' lines (e.g. ``daemon.cdc.verify_edges``), printed before the result."""

    def say(text: str) -> None:
        print(text, file=out)

    def listing(label: str, items: list[Any], render: Any = _change) -> None:
        for line in listed(label, [render(item) for item in items]):
            say(line)

    say(
        f"{sum(rec.captured.values())} change events, {rec.reads['initial']} initial snapshot reads, "
        f"{rec.reads['incremental']} incremental snapshot reads, {rec.tombstones} tombstones"
    )
    if rec.other:
        say("other records (not row changes): " + ", ".join(f"{n} {k}" for k, n in sorted(rec.other.items())))
    if rec.snapshot_txids:
        say(f"initial snapshot transaction(s): txid {', '.join(map(str, rec.snapshot_txids))}")
    if rec.in_snapshot:
        say(
            f"{sum(rec.in_snapshot.values())} ledger changes committed before the connector's snapshot "
            "are credited to its reads"
        )
    say(f"{'table':<22}{'op':<8}{'ledger':>8}{'captured':>10}{'missing':>9}{'duplicated':>12}{'unexpected':>12}")
    for k in sorted(set(rec.captured) | set(rec.ledger), key=repr):
        ledger_n = str(rec.ledger[k]) if ledger_used else "-"
        say(
            f"{k.table or '?':<22}{k.op:<8}{ledger_n:>8}{rec.captured[k]:>10}{rec.missing[k]:>9}"
            f"{rec.duplicated[k]:>12}{rec.unexpected[k]:>12}"
        )
    listing("missing", rec.missing_keys)
    listing("duplicated", rec.duplicated_keys)
    listing("unexpected", rec.unexpected_keys)
    tx = rec.transactions
    if tx.metadata:
        say(f"transaction metadata: {tx.begins} BEGIN, {tx.ends} END")
    for txid, lost in list(tx.partial.items())[:SHOWN]:
        say(f"  partial transaction txid={txid}: {len(lost)} change(s) missing, e.g. {_change(lost[0])}")
    listing("no BEGIN for txid", tx.missing_begin, str)
    listing("no END for txid", tx.missing_end, str)
    listing("BEGIN twice for txid", tx.duplicate_begin, str)
    listing("END twice for txid", tx.duplicate_end, str)
    listing(
        "END disagrees with the ledger",
        tx.wrong_end,
        lambda w: f"txid={w['txid']} ledger={w['expected']} END={w['end']} event_count={w['event_count']}",
    )
    listing("transaction not in the ledger: txid", tx.unexpected, str)
    listing("change event without its transaction block", tx.without_block)
    listing("transaction block names another txid", tx.wrong_block)
    if rec.placeholders_expected:
        say(f"unchanged TOAST values delivered as the placeholder, as the ledger expects: {rec.placeholders_expected}")
    listing("placeholder where the ledger expects a value (lost)", rec.placeholders_unmarked)
    if rec.tombstones and rec.tombstones < rec.deletes:
        say(f"note: {rec.deletes} deletes but {rec.tombstones} tombstones")
    if state is not None:
        say(
            f"final state: {state.rows} rows checked against the live tables, {len(state.differences)} differ, "
            f"{state.unavailable} unavailable (unchanged TOAST) values"
        )
        if state.defaults:
            say(
                f"  {state.defaults} value(s) of columns added while streaming compared with the schema change's "
                "default (the row's last event preceded the ADD COLUMN)"
            )
        for loss, count in sorted(state.losses.items()):
            say(f"  {loss.line(count)}")
        listing(
            "differs",
            state.differences,
            lambda d: (
                f"{d.table} id={d.pk} {d.column}: table={str(d.live)[:60]!r} events={str(d.event)[:60]!r}{_origin(d)}"
            ),
        )
    for line in extra_lines:
        say(line)
    say(
        f"RESULT: {'OK' if bad == 0 else 'FAIL'} ({sum(rec.missing.values())} missing, "
        f"{sum(rec.duplicated.values())} duplicated, {sum(rec.unexpected.values())} unexpected, "
        f"{len(tx.partial)} partial transactions)"
    )


def _keys(keys: list[ChangeKey]) -> list[dict[str, Any]]:
    return [k._asdict() for k in keys]


def report_dict(rec: Reconciliation, state: StateCheck | None, ledger_used: bool, bad: int) -> dict[str, Any]:
    tx = rec.transactions
    tables = [
        {
            "table": k.table,
            "op": k.op,
            "ledger": rec.ledger[k] if ledger_used else None,
            "captured": rec.captured[k],
            "missing": rec.missing[k],
            "duplicated": rec.duplicated[k],
            "unexpected": rec.unexpected[k],
            "in_snapshot": rec.in_snapshot[k],
        }
        for k in sorted(set(rec.captured) | set(rec.ledger), key=repr)
    ]
    return {
        "result": "OK" if bad == 0 else "FAIL",
        "failures": bad,
        "ledger": ledger_used,
        "records": {
            "change_events": sum(rec.captured.values()),
            "initial_snapshot_reads": rec.reads["initial"],
            "incremental_snapshot_reads": rec.reads["incremental"],
            "tombstones": rec.tombstones,
            **{kind: n for kind, n in sorted(rec.other.items())},
        },
        "snapshot": {"txids": rec.snapshot_txids, "credited": sum(rec.in_snapshot.values())},
        "tables": tables,
        "missing": _keys(rec.missing_keys),
        "duplicated": _keys(rec.duplicated_keys),
        "unexpected": _keys(rec.unexpected_keys),
        "placeholders": {"expected": rec.placeholders_expected, "unmarked": _keys(rec.placeholders_unmarked)},
        "transactions": {
            "metadata": tx.metadata,
            "begins": tx.begins,
            "ends": tx.ends,
            "partial": [{"txid": t, "missing": _keys(lost)} for t, lost in tx.partial.items()],
            "lost": tx.lost,
            "missing_begin": tx.missing_begin,
            "missing_end": tx.missing_end,
            "duplicate_begin": tx.duplicate_begin,
            "duplicate_end": tx.duplicate_end,
            "wrong_end": tx.wrong_end,
            "unexpected": tx.unexpected,
            "without_block": _keys(tx.without_block),
            "wrong_block": _keys(tx.wrong_block),
        },
        "final_state": None
        if state is None
        else {
            "rows": state.rows,
            "unavailable": state.unavailable,
            "ddl_defaults": state.defaults,
            "known_losses": [
                {"table": loss.table, "column": loss.column, "what": loss.what, "setting": loss.setting, "count": n}
                for loss, n in sorted(state.losses.items())
            ],
            "differences": [
                {
                    "table": d.table,
                    "pk": d.pk,
                    "column": d.column,
                    "live": str(d.live),
                    "event": d.event if isinstance(d.event, int | float | str | None) else str(d.event),
                    "op": d.origin.op if d.origin else None,
                    "txid": d.origin.txid if d.origin else None,
                    "line": d.origin.line if d.origin else None,
                }
                for d in state.differences
            ],
        },
    }


def print_json(
    out: TextIO,
    rec: Reconciliation,
    state: StateCheck | None,
    ledger_used: bool,
    bad: int,
    extra: dict[str, Any] | None = None,
) -> None:
    """``extra``: further checks' sections (e.g. ``{"edges": ...}``), added to the document."""
    print(json.dumps({**report_dict(rec, state, ledger_used, bad), **(extra or {})}, default=str), file=out)


def print_json_error(out: TextIO, message: str) -> None:
    print(json.dumps({"result": "ERROR", "error": message}), file=out)
