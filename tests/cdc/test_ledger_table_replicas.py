"""Three replicas share LEDGER_TABLE; one is killed with SIGKILL and restarted. The table holds
every change the real connector delivered, and `verify --strict` against it exits 0."""

from __future__ import annotations

import io
import signal
from pathlib import Path

import pytest

from daemon.cdc.ledger import ledger_from_table
from daemon.cdc.verify import run_verify
from daemon.config import load_config
from tests.support.db import query, wait_until
from tests.support.debezium_engine import captured, drain, parse
from tests.support.proc import DaemonProcess

TABLE = "hsim_ledger"


def rows(db) -> int:
    return query(db, f"SELECT count(*) FROM {TABLE}")[0][0]


@pytest.mark.seeded(SEED_SCALE="0.1")
def test_three_replicas_one_killed_and_the_table_still_holds_the_truth(pg_env, db, tmp_path: Path, monkeypatch):
    env = {**pg_env, "LEDGER_TABLE": TABLE, "STREAM_RATE": "40", "HTTP_PORT": "0", "RANDOM_SEED": "7"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = load_config(dotenv=None)
    replicas: list[DaemonProcess] = []
    with captured(db, config, "hsim_replicas", tmp_path) as capture:
        try:
            replicas = [DaemonProcess({**env, "PG_APPLICATION_NAME": f"replica-{i}"}, "run") for i in range(3)]
            for replica in replicas:
                replica.wait_for("stream.start")
            wait_until(lambda: rows(db) >= 150, timeout=60, what="changes in the ledger table")
            victim = replicas[1]
            victim.proc.send_signal(signal.SIGKILL)  # no goodbye: whatever it committed is in the table
            assert victim.wait(30) == -signal.SIGKILL
            victim.kill()  # closes its pipes
            before = rows(db)
            replicas[1] = DaemonProcess({**env, "PG_APPLICATION_NAME": "replica-1b"}, "run")
            replicas[1].wait_for("stream.start")
            wait_until(lambda: rows(db) >= before + 150, timeout=60, what="changes after the restart")
            for replica in replicas:
                code, _ = replica.terminate()
                assert code == 0, replica.output
            records = drain(db, capture)
        finally:
            for replica in replicas:
                replica.kill()

    truth = ledger_from_table(config, TABLE)
    delivered = {
        (e.table, e.op, e.pk, e.txid % 2**32) for e in map(parse, records) if e.op in ("insert", "update", "delete")
    }
    recorded = {(e["table"], e["op"], e["pk"], e["txid"] % 2**32) for e in truth}
    assert delivered == recorded  # every change Debezium delivered is in the table, and nothing more
    dump = tmp_path / "events.jsonl"
    dump.write_text("\n".join(r.value or "null" for r in records) + "\n")
    out = io.StringIO()
    assert run_verify(config, str(dump), ledger_table=TABLE, strict=True, out=out) == 0, out.getvalue()
