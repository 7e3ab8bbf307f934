"""`python -m daemon ledger`: the ledger's changes per table and operation."""

from __future__ import annotations

import json
import re

from tests.support.proc import run


def ledger_entry(table, op, pk, txid):
    return {"table": table, "op": op, "pk": pk, "txid": txid}


def test_ledger_subcommand_counts_per_table_and_operation(tmp_path, pg_env):
    path = tmp_path / "ledger.jsonl"
    entries = [
        ledger_entry("consultas", "insert", 1, 1),
        ledger_entry("consultas", "update", 1, 2),
        ledger_entry("consultas", "update", 1, 3),
        ledger_entry("pacientes_convenios", "delete", 4, 4),
    ]
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    code, output = run(pg_env, "ledger", "--file", str(path))
    assert code == 0
    assert re.search(r"consultas\s+1\s+2\s+0\s+3", output)
    assert re.search(r"pacientes_convenios\s+0\s+0\s+1\s+1", output)
    assert re.search(r"TOTAL\s+1\s+2\s+1\s+4", output)
    code, output = run(pg_env, "ledger")
    assert code == 2 and "LEDGER_FILE" in output
