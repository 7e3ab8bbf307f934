"""Machine-readable output: results on stdout (one JSON document with --json), logs on stderr,
and JSON log lines whose fields keep one type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.support import REPO
from tests.support.db import query, wait_until
from tests.support.env import clean
from tests.support.proc import daemon_process, run


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m daemon *args`` with stdout and stderr kept apart."""
    full = {**clean(os.environ), "HTTP_PORT": "0", **env, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env=full,
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def json_logs(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_result_commands_print_one_json_document_and_log_to_stderr(pg_env, tmp_path: Path):
    env = {**pg_env, "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG", "CDC_PUBLICATION": "hospital_pub"}
    assert run(env, "init")[0] == 0
    ledger = tmp_path / "ledger.jsonl"
    line = {"table": "pacientes", "op": "insert", "pk": 1, "txid": 7, "committed_at": "2026-01-01T00:00:00"}
    ledger.write_text(json.dumps(line) + "\n", encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("", encoding="utf-8")
    cases = {
        ("counts", "--json"): lambda doc: doc["total"] == sum(doc["tables"].values()),
        ("check", "--json"): lambda doc: doc["ok"] is True and doc["schema"] is True,
        ("doctor", "--json", "--role", "nobody_here"): lambda doc: (
            {"name", "status", "detail", "fix"} == set(doc[0])
            and any(c["name"] == "connector role nobody_here" for c in doc)
        ),
        ("ledger", "--json", "--file", str(ledger)): lambda doc: doc["tables"]["pacientes"]["insert"] == 1,
        ("verify", "--json", "--events", str(events), "--ledger", str(ledger), "--no-live"): lambda doc: isinstance(
            doc, dict
        ),
    }
    for args, valid in cases.items():
        done = command(env, *args)
        assert done.returncode in (0, 1), (args, done.stderr[-2000:])
        assert done.stdout.strip(), (args, done.stderr[-2000:])
        doc = json.loads(done.stdout)  # exactly one JSON document: nothing else on stdout
        assert valid(doc), (args, doc)
        for record in json_logs(done.stderr):  # whatever was logged went to stderr, as JSON lines
            assert {"event", "severity"} <= set(record), args
    logged = command(env, "counts", "--json")
    assert any(r["event"] == "db.connected" for r in json_logs(logged.stderr)), logged.stderr


def test_counts_table_without_log_lines(pg_env):
    assert run(pg_env, "init")[0] == 0
    done = command(pg_env, "counts")
    assert done.returncode == 0
    assert done.stdout.startswith("=== Row counts ===") and "db.connect" not in done.stdout
    assert "db.connected" in done.stderr


def flatten(record: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "object" if isinstance(value, dict) else type(value).__name__


def test_json_log_fields_keep_one_type(pg_env, db, tmp_path: Path):
    env = {
        **pg_env,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
        "SEED_SCALE": "0.05",
        "STREAM_INTERVAL_SECONDS": "0.02",
        "MAX_JITTER_MS": "0",
        "SUMMARY_EVERY_TICKS": "1",  # in rate mode: seconds
        "RETRY_MAX_SECONDS": "0.5",
        "PG_CONNECT_TIMEOUT": "2",
        "PG_APPLICATION_NAME": "schema_victim",
        "STREAM_RATE": "40",
    }
    victims = "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'schema_victim:%%' AND pid <> ALL(%s)"
    with daemon_process(env, ready="seed committed") as daemon:
        daemon.wait_for("Stream ciclo", timeout=60)
        killed: list[int] = []
        for _ in range(3):  # each time the backends the daemon opened since the last kill
            pids = wait_until(lambda: [p for (p,) in query(db, victims, (killed,))], 30, "a new backend")  # noqa: B023
            query(db, "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
            killed += pids
        daemon.wait_for("reconnected", timeout=30)
        daemon.wait_for_count("Stream ciclo", daemon.count("Stream ciclo") + 1, timeout=60)
        code, _ = daemon.terminate()
    assert code == 0, daemon.output[-3000:]
    code, again = run(env, "seed")  # seed.skipped: the tables hold data now
    assert code == 0, again
    lines = daemon.lines + again.splitlines()
    records = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    events = {r["event"] for r in records}
    assert {"stream.summary", "seed.done", "seed.skipped"} <= events and any(e.startswith("seed.") for e in events), (
        events
    )
    assert "db.reconnected" in events and any(r["severity"] == "WARNING" for r in records), sorted(events)
    types: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for record in records:
        assert record.get("severity") in {"DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"}, record
        for key, value in flatten(record).items():
            types[key].add(kind(value))
            where.setdefault((key, kind(value)), record["event"])
    mixed = {k: {t: where[(k, t)] for t in v} for k, v in types.items() if len(v) > 1}
    assert not mixed, mixed
