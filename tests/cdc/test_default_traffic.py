"""Acceptance of the CDC edge cases in the DEFAULT traffic, with the real connector.

The daemon streams its default mix (inserts, updates, deletes, the four episodes, admissions
failing on purpose); Debezium captures it with ``provide.transaction.metadata=true``, first under
REPLICA IDENTITY DEFAULT, then -- the same connector, after ``ALTER TABLE ... REPLICA IDENTITY
FULL`` -- under FULL. Under DEFAULT, `verify --strict` passes on the dump and the ledger, every
kind of episode arrives whole, unchanged TOAST values arrive as the placeholder exactly where the
ledger marks them, a phone goes back to NULL, and nothing of the failed admissions arrives. Under
FULL, no placeholder at all and complete before-images on updates and deletes.

`drain` commits its sentinel in a transaction of its own (a transactional logical decoding
message): its BEGIN (and, for an earlier drain, its END) are in the records, under a txid the
daemon's ledger cannot know. The test learns that txid from the sentinel message itself and drops
the sentinel's transaction records from the dump, so that `verify --strict` judges the daemon's
traffic and nothing else.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from daemon.cdc.debezium import UNAVAILABLE, XID_MOD, xid32
from daemon.cdc.ledger import Change, Ledger, read_ledger
from daemon.cdc.verify import run_verify
from daemon.pg.tables import TABLES
from daemon.stream.kinds.episodes import EPISODES
from daemon.stream.stats import DELIBERATE_ROLLBACK
from tests.support.db import query
from tests.support.debezium_engine import (
    ChangeRecord,
    DebeziumCapture,
    captured,
    drain,
    parse,
)

PUBLICATION = "hsim_default_traffic"
# The default weights; only two shares are raised, so that the rare cases come within a few hundred
# events: a failing admission (default 0.02 of the admissions) and a long, TOASTed laudo (default 0.25).
STREAM = {"STREAM_EPISODE_FAILURE_SHARE": "0.3", "STREAM_TOAST_SHARE": "0.5"}
LIMIT = 6000  # events per phase; the cases come far sooner (the rarest, a phone removed, ~1 event in 700)


def set_identity(db, identity: str) -> None:
    for table in TABLES:
        query(db, f"ALTER TABLE {table} REPLICA IDENTITY {identity}; SELECT 1")


def stream_until(streamer, done) -> list[Change]:
    """Run the default mix event by event until ``done(changes)`` holds."""
    changes: list[Change] = []
    for _ in range(LIMIT):
        changes.extend(streamer.run_event())
        if done(changes):
            return changes
    raise AssertionError(f"the default traffic did not produce the cases in {LIMIT} events: {streamer.stats.kinds}")


def sentinel_txids(capture: DebeziumCapture) -> set[int]:
    """The txids of every drain sentinel delivered so far (logical decoding messages, ours only)."""
    txids = set()
    for record in capture.events():
        if record.destination.endswith(".message") and record.value is not None:
            txid = xid32(parse(record).txid)
            assert txid is not None, record.value
            txids.add(txid)
    return txids


def transaction_record(record: ChangeRecord) -> dict | None:
    if record.destination.endswith(".transaction") and record.value is not None:
        return json.loads(record.value)
    return None


def without_sentinels(records: list[ChangeRecord], sentinels: set[int]) -> list[ChangeRecord]:
    """The records without the BEGIN/END of the drain sentinels' own transactions."""
    return [r for r in records if (t := transaction_record(r)) is None or xid32(t["id"]) not in sentinels]


def verify_strict(config, records: list[ChangeRecord], ledger_path: Path, dump: Path) -> str:
    dump.write_text("\n".join(r.value or "null" for r in records) + "\n")
    out = io.StringIO()
    code = run_verify(config, str(dump), ledger_path=ledger_path, live=True, strict=True, out=out)
    assert code == 0, out.getvalue()
    assert "RESULT: OK (0 missing, 0 duplicated, 0 unexpected, 0 partial transactions)" in out.getvalue()
    return out.getvalue()


def columns_of(db) -> dict[str, set[str]]:
    rows = query(
        db,
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = ANY(%s)",
        (list(TABLES),),
    )
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return columns


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_default_traffic_edge_cases_under_both_identities(make_config, make_streamer, db, tmp_path: Path) -> None:
    config = make_config(**STREAM)
    default_ledger, full_ledger = tmp_path / "ledger-default.jsonl", tmp_path / "ledger-full.jsonl"
    ledger = Ledger(default_ledger)
    # The publication sets FULL: the first phase runs under the default identity.
    with captured(db, config, PUBLICATION, tmp_path, transaction_metadata=True) as capture:
        set_identity(db, "DEFAULT")
        streamer = make_streamer(config, ledger)
        phone_removed: list[int] = []

        def default_cases(changes: list[Change]) -> bool:
            last = changes[-1] if changes else None
            if last and last.table == "pacientes" and last.op == "update":
                if query(db, "SELECT telefone IS NULL FROM pacientes WHERE id = %s", (last.pk,)) == [(True,)]:
                    phone_removed.append(last.pk)
            return (
                {k.name for k in EPISODES} <= set(streamer.stats.kinds)
                and streamer.stats.failures[DELIBERATE_ROLLBACK] > 0
                and sum(bool(c.unchanged_toast) for c in changes) >= 2
                and bool(phone_removed)
            )

        stream_until(streamer, default_cases)
        ledger.close()
        default_records = drain(db, capture)
        default_dump = without_sentinels(default_records, sentinel_txids(capture))
        assert len(default_records) - len(default_dump) == 1  # the sentinel's BEGIN (its END comes after it)
        default_report = verify_strict(config, default_dump, default_ledger, tmp_path / "events-default.jsonl")

        # Phase two, the same connector: every table FULL, a new ledger.
        set_identity(db, "FULL")
        streamer.ledger = ledger = Ledger(full_ledger)
        full_changes = stream_until(
            streamer,
            lambda cs: (
                len(cs) >= 300
                and sum(bool(c.unchanged_toast) for c in cs) >= 2
                and {"update", "delete"} <= {c.op for c in cs if c.table == "exames"}
            ),
        )
        ledger.close()
        full_records = drain(db, capture)[len(default_records) :]
        full_dump = without_sentinels(full_records, sentinel_txids(capture))
        assert len(full_records) - len(full_dump) == 2  # the first sentinel's END, the second's BEGIN
        full_report = verify_strict(config, full_dump, full_ledger, tmp_path / "events-full.jsonl")
        ledger.close()

    # ---- REPLICA IDENTITY DEFAULT
    entries = list(read_ledger(default_ledger))
    ledger_txids = Counter(e["txid"] % XID_MOD for e in entries)
    events = [parse(r) for r in default_dump]
    changes = [e for e in events if e.op in ("insert", "update", "delete")]
    # Nothing of the failed admissions: every change delivered belongs to a committed transaction.
    assert streamer.stats.failures[DELIBERATE_ROLLBACK] > 0
    assert changes and {xid32(e.txid) for e in changes} <= set(ledger_txids)
    assert Counter(xid32(e.txid) for e in changes) == ledger_txids
    # Every kind of episode arrived whole: its END counts exactly the ledger's changes of its txid.
    ends = {
        xid32(t["id"]): t["event_count"]
        for r in default_dump
        if (t := transaction_record(r)) is not None and t["status"] == "END"
    }
    episodes = {e["txid"] % XID_MOD: e["episode"] for e in entries if e.get("episode")}
    for txid in episodes:
        assert ends.get(txid) == ledger_txids[txid] >= 2, (episodes[txid], ends.get(txid), ledger_txids[txid])
    assert set(episodes.values()) == {k.name for k in EPISODES}
    # Unchanged TOAST values: the placeholder exactly where the ledger marks them, and verify counts them.
    marked = [
        (e["table"], e["pk"], e["txid"] % XID_MOD, column) for e in entries for column in e.get("unchanged_toast", ())
    ]
    by_change = {(e.table, e.pk, xid32(e.txid)): e for e in changes if e.op == "update"}
    assert len(marked) >= 2
    for table, pk, txid, column in marked:
        assert by_change[(table, pk, txid)].after[column] == UNAVAILABLE
    placeholders = sum(json.dumps(e.after).count(UNAVAILABLE) for e in changes)
    assert placeholders == len(marked)
    assert f"unchanged TOAST values delivered as the placeholder, as the ledger expects: {len(marked)}" in (
        default_report
    ), default_report
    # A NULL transition: a phone removed arrives as null.
    assert any(
        e.table == "pacientes" and e.op == "update" and e.pk in phone_removed and e.after["telefone"] is None
        for e in changes
    )

    # ---- REPLICA IDENTITY FULL
    full_events = [parse(r) for r in full_dump]
    full_changes_seen = [e for e in full_events if e.op in ("insert", "update", "delete")]
    assert len(full_changes_seen) == len(full_changes) > 0
    assert all(UNAVAILABLE not in r.value for r in full_dump if r.value is not None)
    assert "as the ledger expects" not in full_report
    columns = columns_of(db)
    olds = [e for e in full_changes_seen if e.op in ("update", "delete")]
    assert {e.op for e in olds} == {"update", "delete"}
    for e in olds:
        assert e.before is not None and set(e.before) == columns[e.table], (e.table, e.op, e.pk)
    # The TOASTed laudos among them: whole in the before-image of the exams signed or removed.
    marked_full = {(c.pk, c.txid % XID_MOD) for c in full_changes if c.unchanged_toast}
    signed = [e for e in olds if e.table == "exames" and (e.pk, xid32(e.txid)) in marked_full]
    assert signed
    for e in signed:
        assert e.before["resultado"] == e.after["resultado"] and len(e.after["resultado"]) > 2000
