"""The daemon as a process with STREAM_DDL_EVERY_SECONDS: it makes and logs the schema changes,
records them in its ledger, stops cleanly on SIGTERM in the middle of the sequence, and, started
again, continues the sequence where the catalogue says it stands; the stream keeps committing."""

from __future__ import annotations

import json
import time
from pathlib import Path

from daemon.stream.ddl import STEPS
from tests.support.proc import daemon_process

DDL = {
    "SCHEMA_EXTRAS": "faturamento",
    "SEED_SCALE": "0.05",
    "STREAM_RATE": "30",
    "STREAM_DDL_EVERY_SECONDS": "1",
    "STREAM_EXTRA_WEIGHTS": "guia_abertura=40,guia_faturamento=40,guia_desfecho=40,guia_recurso=20",
}


def ddl_steps(path: Path) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [e["step"] for e in map(json.loads, lines) if e["op"] == "ddl"]


def wait_for_steps(path: Path, n: int, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(steps := ddl_steps(path)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return steps


def test_schema_changes_survive_a_restart_mid_sequence(pg_env, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    env = {**pg_env, **DDL, "LEDGER_FILE": str(ledger)}
    with daemon_process(env, ready="stream ready") as first:
        wait_for_steps(ledger, 2)
    assert first.returncode == 0, first.output
    made_first = ddl_steps(ledger)
    assert 2 <= len(made_first) < len(STEPS), made_first
    assert "[schema.ddl] schema change add_observacao committed" in first.output
    with daemon_process(env, ready="stream ready") as second:
        steps = wait_for_steps(ledger, len(STEPS))
        second.wait_for("schema change sequence complete", timeout=10)
        time.sleep(1.5)  # the stream goes on after the last change
    assert second.returncode == 0, second.output
    assert steps == [step.name for step in STEPS]  # each once, in order, across the restart
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    last_ddl = max(i for i, e in enumerate(entries) if e["op"] == "ddl")
    after = [e for e in entries[last_ddl + 1 :] if e["table"] == "faturamento"]
    assert after and {e["op"] for e in after} <= {"insert", "update"}
    assert "rolled back" not in second.output and "schema change not made" not in second.output
