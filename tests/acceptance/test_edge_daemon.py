"""The daemon as a process with the opt-in edge cases on: it creates the partitions, seeds the vital
signs, streams truncates, messages and readings into its ledger, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from daemon.pg import partitions
from tests.support.proc import daemon_process, run

EDGES = {
    "SCHEMA_EXTRAS": "fila_triagem,sinais_vitais",
    "SEED_SCALE": "0.05",
    "STREAM_RATE": "40",
    "STREAM_OP_WEIGHTS": "insert=1",
    "STREAM_EXTRA_WEIGHTS": "triagem_chegada=6,triagem_passagem_turno=2,sinal_vital=4,"
    "mensagem_transacional=2,mensagem_avulsa=2",
    "CDC_PUBLICATION": "hospital_pub",
    "CDC_PUBLISH_VIA_PARTITION_ROOT": "true",
}


def ledger_counts(path: Path) -> Counter[tuple[str, str]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter((e["table"], e["op"]) for e in map(json.loads, lines))


def test_the_daemon_streams_the_edge_cases(pg_env, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    env = {**pg_env, **EDGES, "LEDGER_FILE": str(ledger)}
    wanted = (("fila_triagem", "truncate"), ("", "message"), ("sinais_vitais", "insert"))
    with daemon_process(env, ready="stream ready") as daemon:
        deadline = time.monotonic() + 60
        while not all((seen := ledger_counts(ledger))[k] for k in wanted) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert daemon.returncode == 0, daemon.output
    assert all(seen[k] for k in wanted), seen
    output = daemon.output
    assert "publish_via_partition_root = true" in output and "partition(s)" in output and "(seed)" in output
    month = partitions.partition_name(partitions.ahead(datetime.now(UTC))[1])
    assert month in output  # next month's, by the bootstrap
    code, text = run(env, "doctor")
    assert "PASS  publish_via_partition_root" in text and "WARN  truncates (fila_triagem)" in text, text
