"""verify: parsing Debezium's JSON lines and reconciling them with a ledger (snapshot credit, transactions)."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from daemon.cdc.debezium import EventFormatError, parse_line, read_events, xid_precedes
from daemon.cdc.verify import reconcile, run_verify


def envelope(table, op, pk, txid, before=None, after=None, wrap=False, snapshot="false", tx=True, lsn=None):
    value = {
        "before": before,
        "after": after,
        "op": op,
        "ts_ms": 1,
        "source": {"table": table, "schema": "public", "txId": txid, "lsn": lsn or 100 + pk, "snapshot": snapshot},
        "transaction": {"id": f"{txid}:{lsn or 100 + pk}", "total_order": 1, "data_collection_order": 1}
        if tx and op != "r"
        else None,
    }
    if op in ("c", "u", "r") and after is None:
        value["after"] = {"id": pk}
    if op == "d" and before is None:
        value["before"] = {"id": pk}
    if wrap:
        value = {"schema": {"type": "struct"}, "payload": value}
    return json.dumps(value)


def read_event(table, pk, txid=900, snapshot="true"):
    return envelope(table, "r", pk, txid, snapshot=snapshot)


def begin(txid):
    return json.dumps({"status": "BEGIN", "id": f"{txid}:5000", "event_count": None, "data_collections": None})


def end(txid, **per_table):
    collections = [{"data_collection": f"public.{t}", "event_count": n} for t, n in per_table.items()]
    return json.dumps(
        {"status": "END", "id": f"{txid}:5000", "event_count": sum(per_table.values()), "data_collections": collections}
    )


def ledger_entry(table, op, pk, txid):
    return {"table": table, "op": op, "pk": pk, "txid": txid}


def verify(lines, ledger, tmp_path, *extra_flags, **kwargs):
    """run_verify on ``lines`` and ``ledger``: (exit code, text report, JSON report)."""
    path = tmp_path / "ledger.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in ledger))
    text, doc = io.StringIO(), io.StringIO()
    code = run_verify(None, "-", ledger_path=path, live=False, stdin=io.StringIO("\n".join(lines)), out=text, **kwargs)
    code_json = run_verify(
        None, "-", ledger_path=path, live=False, as_json=True, stdin=io.StringIO("\n".join(lines)), out=doc, **kwargs
    )
    assert code == code_json
    return code, text.getvalue(), json.loads(doc.getvalue())


def test_parses_plain_wrapped_tombstone_and_key_value_lines():
    plain = parse_line(envelope("consultas", "c", 1, 500), 1)
    assert (plain.table, plain.op, plain.pk, plain.txid) == ("consultas", "insert", 1, 500)
    assert plain.transaction["id"] == "500:101"
    wrapped = parse_line(envelope("exames", "u", 2, 501, wrap=True), 2)
    assert (wrapped.table, wrapped.op, wrapped.pk) == ("exames", "update", 2)
    assert parse_line("null", 3).op == "tombstone"
    keyed = parse_line('{"id": 7}\tnull', 4)
    assert keyed.op == "tombstone" and keyed.pk == 7
    kv = parse_line('{"schema": {}, "payload": {"id": 3}}\t' + envelope("pacientes", "d", 3, 502), 5)
    assert (kv.op, kv.pk) == ("delete", 3)
    assert parse_line("   ", 6) is None
    assert parse_line(read_event("consultas", 1, snapshot="last"), 7).snapshot_kind == "initial"
    assert parse_line(read_event("consultas", 1, snapshot="incremental"), 8).snapshot_kind == "incremental"


@pytest.mark.parametrize("line", ["{not json", '{"op": "x", "source": {}}', "1 2 3", "[1]"])
def test_rejects_what_is_not_a_debezium_record(line):
    with pytest.raises(EventFormatError):
        parse_line(line, 9)


WIDE_TOPIC_RECORDS = {
    "transaction": begin(10),
    "heartbeat": '{"serverName": "hospital"}\t{"ts_ms": 1700000000000}',
    "message": json.dumps(
        {"op": "m", "ts_ms": 1, "source": {"txId": 5, "lsn": 9}, "message": {"prefix": "p", "content": ""}}
    ),
    "truncate": json.dumps({"op": "t", "ts_ms": 1, "source": {"table": "exames", "txId": 6, "lsn": 10}}),
    "schema_change": json.dumps({"source": {}, "databaseName": "hospital", "schemaName": "public", "ddl": "ALTER"}),
    "other": '{"foo": 1}',
}


def test_records_that_are_not_row_changes_are_counted_never_rejected(tmp_path):
    lines = [envelope("consultas", "c", 1, 10), *WIDE_TOPIC_RECORDS.values(), end(10, consultas=1)]
    assert [e.op for e in read_events(lines)] == ["insert", *WIDE_TOPIC_RECORDS, "transaction"]
    code, text, doc = verify(lines, [ledger_entry("consultas", "insert", 1, 10)], tmp_path)
    assert code == 0, text
    assert "1 heartbeat, 1 message, 1 other, 1 schema_change, 2 transaction, 1 truncate" in text
    assert doc["records"]["heartbeat"] == 1 and doc["records"]["truncate"] == 1


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
    assert rec.missing_keys == [("exames", "delete", 5, 13)]
    assert rec.duplicated == {("consultas", "update"): 1}
    assert rec.unexpected == {("pacientes", "update"): 1}


def test_txid_with_epoch_matches_debeziums_32bit_xid():
    ledger = [ledger_entry("consultas", "insert", 1, (1 << 32) + 77)]
    rec = reconcile(list(read_events([envelope("consultas", "c", 1, 77)])), ledger)
    assert not rec.missing and not rec.unexpected


def test_xids_compare_across_wraparound():
    assert xid_precedes(10, 11) and not xid_precedes(11, 10) and not xid_precedes(5, 5)
    assert xid_precedes(2**32 - 5, 3)  # 3 was assigned after the counter wrapped
    assert not xid_precedes(3, 2**32 - 5)


def test_run_verify_exit_codes(tmp_path):
    ledger = [ledger_entry("consultas", "insert", i, 10 + i) for i in (1, 2)]
    complete = [envelope("consultas", "c", i, 10 + i) for i in (1, 2)]
    code, text, doc = verify(complete, ledger, tmp_path)
    assert code == 0 and "RESULT: OK" in text and doc["result"] == "OK"
    code, text, doc = verify([complete[0]], ledger, tmp_path)
    assert code == 1 and "missing: consultas insert id=2 txid=12" in text
    assert doc["missing"] == [{"table": "consultas", "op": "insert", "pk": 2, "txid": 12}]
    twice = [*complete, complete[0]]
    assert verify(twice, ledger, tmp_path)[0] == 0
    assert verify(twice, ledger, tmp_path, strict=True)[0] == 1
    out = io.StringIO()
    assert run_verify(None, "-", live=False, as_json=True, stdin=io.StringIO("garbage"), out=out) == 2
    assert json.loads(out.getvalue())["result"] == "ERROR"


# ---------------------------------------------------------------- snapshot credit
SNAPSHOT_TXID = (1 << 32) + 900  # the snapshot's pg_current_xact_id(): with its epoch, like the ledger's


def test_changes_committed_before_the_snapshot_are_credited_to_its_reads():
    ledger = [
        ledger_entry("consultas", "insert", 7, 10),  # before the snapshot: arrives as its read
        ledger_entry("consultas", "update", 7, 11),
        ledger_entry("exames", "insert", 8, 12),  # inserted and deleted before the snapshot: never seen
        ledger_entry("exames", "delete", 8, 13),
        ledger_entry("pacientes", "insert", 5, 14),  # neither read nor streamed: really missing
        ledger_entry("consultas", "insert", 9, 915),  # streamed
    ]
    lines = [
        read_event("consultas", 7, SNAPSHOT_TXID, "first"),
        read_event("consultas", 3, SNAPSHOT_TXID, "incremental"),
        envelope("consultas", "c", 9, 915),
    ]
    rec = reconcile(list(read_events(lines)), ledger)
    assert rec.in_snapshot == Counter(
        {("consultas", "insert"): 1, ("consultas", "update"): 1, ("exames", "insert"): 1, ("exames", "delete"): 1}
    )
    assert rec.missing == Counter({("pacientes", "insert"): 1})
    assert rec.reads == {"initial": 1, "incremental": 1}
    assert rec.snapshot_txids == [900]


def test_a_lost_update_after_the_snapshot_is_not_credited_to_the_read_of_its_row(tmp_path):
    ledger = [
        ledger_entry("consultas", "update", 7, 950),  # after the snapshot (txid 900): lost
        ledger_entry("consultas", "update", 7, 951),  # delivered
    ]
    lines = [read_event("consultas", 7), envelope("consultas", "u", 7, 951)]
    code, text, doc = verify(lines, ledger, tmp_path)
    assert code == 1
    assert "missing: consultas update id=7 txid=950" in text
    assert doc["missing"] == [{"table": "consultas", "op": "update", "pk": 7, "txid": 950}]
    assert doc["snapshot"] == {"txids": [900], "credited": 0}


def test_incremental_reads_and_transactions_streamed_later_earn_no_credit():
    ledger = [
        ledger_entry("consultas", "update", 7, 800),  # only an incremental read of row 7
        ledger_entry("exames", "update", 4, 850),  # older xid, but its transaction was streamed: open at snapshot
        ledger_entry("exames", "update", 5, 850),
    ]
    lines = [
        read_event("consultas", 7, snapshot="incremental"),
        read_event("exames", 4),
        envelope("exames", "u", 5, 850),
    ]
    rec = reconcile(list(read_events(lines)), ledger)
    assert not rec.in_snapshot
    assert sorted(rec.missing_keys) == [("consultas", "update", 7, 800), ("exames", "update", 4, 850)]


def test_without_a_snapshot_nothing_is_credited():
    rec = reconcile(
        list(read_events([envelope("consultas", "c", 9, 14)])),
        [ledger_entry("consultas", "insert", 7, 10), ledger_entry("consultas", "insert", 9, 14)],
    )
    assert rec.missing == {("consultas", "insert"): 1} and not rec.in_snapshot


# ---------------------------------------------------------------- transactions
TWO_TABLES = [
    ledger_entry("consultas", "insert", 1, 20),
    ledger_entry("exames", "update", 2, 20),
    ledger_entry("consultas", "update", 1, 21),
]


def with_metadata():
    return [
        begin(20),
        envelope("consultas", "c", 1, 20),
        envelope("exames", "u", 2, 20),
        end(20, consultas=1, exames=1),
        begin(21),
        envelope("consultas", "u", 1, 21),
        end(21, consultas=1),
    ]


def test_complete_transactions_pass(tmp_path):
    code, text, doc = verify(with_metadata(), TWO_TABLES, tmp_path)
    assert code == 0, text
    assert "transaction metadata: 2 BEGIN, 2 END" in text
    assert doc["transactions"]["metadata"] and not doc["transactions"]["partial"]


def test_a_transaction_that_arrived_in_part_is_named_with_or_without_metadata(tmp_path):
    for lines in (with_metadata(), [x for x in with_metadata() if '"status"' not in x]):
        code, text, doc = verify([x for x in lines if '"exames"' not in x], TWO_TABLES, tmp_path)
        assert code == 1
        assert "partial transaction txid=20: 1 change(s) missing, e.g. exames update id=2 txid=20" in text
        assert doc["transactions"]["partial"] == [
            {"txid": 20, "missing": [{"table": "exames", "op": "update", "pk": 2, "txid": 20}]}
        ]


@pytest.mark.parametrize(
    ("tamper", "expected", "key"),
    [
        (lambda ls: [x for x in ls if x != begin(21)], "no BEGIN for txid: 21", "missing_begin"),
        (lambda ls: [x for x in ls if x != end(20, consultas=1, exames=1)], "no END for txid: 20", "missing_end"),
        (
            lambda ls: [end(20, consultas=2, exames=1) if x == end(20, consultas=1, exames=1) else x for x in ls],
            "END disagrees with the ledger: txid=20 ledger={'consultas': 1, 'exames': 1} END={'consultas': 2",
            "wrong_end",
        ),
        (
            lambda ls: [x.replace('"transaction": {', '"transaction": null, "t": {') if "21" in x else x for x in ls],
            "change event without its transaction block: consultas update id=1 txid=21",
            "without_block",
        ),
    ],
    ids=["begin", "end", "end-count", "block"],
)
def test_transaction_metadata_tampering_fails(tmp_path, tamper, expected, key):
    code, text, doc = verify(tamper(with_metadata()), TWO_TABLES, tmp_path)
    assert code == 1 and expected in text, text
    assert doc["transactions"][key]


def test_transactions_not_in_the_ledger_fail_only_when_strict(tmp_path):
    lines = [*with_metadata(), begin(30), envelope("consultas", "u", 1, 30), end(30, consultas=1)]
    code, text, _ = verify(lines, TWO_TABLES, tmp_path)
    assert code == 0 and "transaction not in the ledger: txid: 30" in text
    assert verify(lines, TWO_TABLES, tmp_path, strict=True)[0] == 1


def test_the_ledgers_of_several_replicas_are_merged(tmp_path):
    lines = [envelope("consultas", "c", 1, 500, tx=False), envelope("exames", "c", 2, 501, tx=False)]
    first, second = tmp_path / "replica-0.jsonl", tmp_path / "replica-1.jsonl"
    first.write_text(json.dumps(ledger_entry("consultas", "insert", 1, 500)) + "\n")
    second.write_text(json.dumps(ledger_entry("exames", "insert", 2, 501)) + "\n")
    out = io.StringIO()
    both = run_verify(
        None, "-", ledger_path=[first, second], live=False, strict=True, stdin=io.StringIO("\n".join(lines)), out=out
    )
    assert both == 0, out.getvalue()
    out = io.StringIO()
    one = run_verify(
        None, "-", ledger_path=[first], live=False, strict=True, stdin=io.StringIO("\n".join(lines)), out=out
    )
    assert one == 1 and "exames insert id=2 txid=501" in out.getvalue()  # the other replica's change, unexpected
