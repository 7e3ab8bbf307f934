"""verify: parsing Debezium's JSON lines and reconciling them with a ledger and the tables."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from daemon.cdc.debezium import EventFormatError, parse_line, read_events
from daemon.cdc.verify import reconcile, run_verify


def envelope(table: str, op: str, pk: int, txid: int, before=None, after=None, wrap=False) -> str:
    value = {
        "before": before,
        "after": after,
        "op": op,
        "ts_ms": 1,
        "source": {"table": table, "schema": "public", "txId": txid, "lsn": 100 + pk},
    }
    if op in ("c", "u") and after is None:
        value["after"] = {"id": pk}
    if op == "d" and before is None:
        value["before"] = {"id": pk}
    if wrap:
        value = {"schema": {"type": "struct"}, "payload": value}
    return json.dumps(value)


def test_parses_plain_wrapped_tombstone_and_key_value_lines():
    plain = parse_line(envelope("consultas", "c", 1, 500), 1)
    assert (plain.table, plain.op, plain.pk, plain.txid) == ("consultas", "insert", 1, 500)
    wrapped = parse_line(envelope("exames", "u", 2, 501, wrap=True), 2)
    assert (wrapped.table, wrapped.op, wrapped.pk) == ("exames", "update", 2)
    assert parse_line("null", 3).op == "tombstone"
    keyed = parse_line('{"id": 7}\tnull', 4)
    assert keyed.op == "tombstone" and keyed.pk == 7
    kv = parse_line('{"schema": {}, "payload": {"id": 3}}\t' + envelope("pacientes", "d", 3, 502), 5)
    assert (kv.op, kv.pk) == ("delete", 3)
    assert parse_line("   ", 6) is None


@pytest.mark.parametrize("line", ["{not json", '{"foo": 1}', '{"op": "x", "source": {}}', "1 2 3"])
def test_rejects_what_is_not_a_change_event(line):
    with pytest.raises(EventFormatError):
        parse_line(line, 9)


def ledger_entry(table, op, pk, txid):
    return {"table": table, "op": op, "pk": pk, "txid": txid}


def test_reconcile_reports_missing_duplicated_and_unexpected():
    ledger = [
        ledger_entry("consultas", "insert", 1, 10),
        ledger_entry("consultas", "update", 1, 11),
        ledger_entry("exames", "insert", 5, 12),
        ledger_entry("exames", "delete", 5, 13),
    ]
    lines = [
        envelope("consultas", "c", 1, 10),
        envelope("consultas", "u", 1, 11),
        envelope("consultas", "u", 1, 11),
        envelope("exames", "c", 5, 12),
        envelope("pacientes", "u", 9, 99),
    ]
    rec = reconcile(list(read_events(lines)), ledger)
    assert rec.missing == {("exames", "delete"): 1}
    assert rec.duplicated == {("consultas", "update"): 1}
    assert rec.unexpected == {("pacientes", "update"): 1}


def test_txid_with_epoch_matches_debeziums_32bit_xid():
    ledger = [ledger_entry("consultas", "insert", 1, (1 << 32) + 77)]
    rec = reconcile(list(read_events([envelope("consultas", "c", 1, 77)])), ledger)
    assert not rec.missing and not rec.unexpected


def test_run_verify_exit_codes(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("\n".join(json.dumps(ledger_entry("consultas", "insert", i, 10 + i)) for i in (1, 2)) + "\n")
    complete = "\n".join(envelope("consultas", "c", i, 10 + i) for i in (1, 2))
    out = io.StringIO()
    assert run_verify(None, "-", ledger_path=ledger, live=False, stdin=io.StringIO(complete), out=out) == 0
    assert "RESULT: OK" in out.getvalue()
    out = io.StringIO()
    assert (
        run_verify(
            None, "-", ledger_path=ledger, live=False, stdin=io.StringIO(envelope("consultas", "c", 1, 11)), out=out
        )
        == 1
    )
    assert "missing: consultas insert id=2" in out.getvalue()
    twice = complete + "\n" + envelope("consultas", "c", 1, 11)
    assert run_verify(None, "-", ledger_path=ledger, live=False, stdin=io.StringIO(twice), out=io.StringIO()) == 0
    assert (
        run_verify(None, "-", ledger_path=ledger, live=False, strict=True, stdin=io.StringIO(twice), out=io.StringIO())
        == 1
    )
    assert run_verify(None, "-", ledger_path=ledger, live=False, stdin=io.StringIO("garbage"), out=io.StringIO()) == 2


def read_event(table: str, pk: int) -> str:
    return json.dumps({"before": None, "after": {"id": pk}, "op": "r", "source": {"table": table, "txId": 900}})


def test_changes_before_the_snapshot_are_credited_to_its_reads():
    ledger = [
        ledger_entry("consultas", "insert", 7, 10),  # before the snapshot: arrives as its read
        ledger_entry("consultas", "update", 7, 11),
        ledger_entry("exames", "insert", 8, 12),  # inserted and deleted before the snapshot: never seen
        ledger_entry("exames", "delete", 8, 13),
        ledger_entry("pacientes", "insert", 5, 14),  # neither read nor streamed: really missing
        ledger_entry("consultas", "insert", 9, 15),  # streamed
    ]
    lines = [read_event("consultas", 7), envelope("consultas", "c", 9, 15)]
    rec = reconcile(list(read_events(lines)), ledger)
    assert rec.in_snapshot == Counter(
        {("consultas", "insert"): 1, ("consultas", "update"): 1, ("exames", "insert"): 1, ("exames", "delete"): 1}
    )
    assert rec.missing == Counter({("pacientes", "insert"): 1})


def test_without_a_snapshot_nothing_is_credited():
    rec = reconcile(
        list(read_events([envelope("consultas", "c", 9, 14)])),
        [ledger_entry("consultas", "insert", 7, 10), ledger_entry("consultas", "insert", 9, 14)],
    )
    assert rec.missing == {("consultas", "insert"): 1} and not rec.in_snapshot
