"""LEDGER_TABLE: the ground truth kept in the database, written by each change's own statement."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from daemon import cli
from daemon.bootstrap import bootstrap_database
from daemon.cdc.ledger import Ledger, ledger_from_table
from tests.support.db import query

TABLE = "hsim_ledger"


@pytest.mark.seeded(SEED_SCALE="0.1")
def test_the_table_holds_exactly_what_the_file_holds(make_config, make_streamer, pg_connect, db, tmp_path, monkeypatch):
    config = make_config(
        LEDGER_TABLE=TABLE, CDC_PUBLICATION="hsim_pub", STREAM_EPISODE_FAILURE_SHARE="1", STREAM_TOAST_SHARE="1"
    )
    bootstrap_database(pg_connect(config), config.cdc, config.schema.extras)
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname = 'hsim_pub'")}
    assert TABLE not in published and "consultas" in published  # never published: it is the truth to check against
    ledger = Ledger(tmp_path / "ledger.jsonl")
    streamer = make_streamer(config, ledger)
    events = [streamer.run_event() for _ in range(400)]
    ledger.close()
    assert streamer.stats.failures["deliberate_rollback"] > 0 and streamer.stats.episodes > 0, (
        streamer.stats.failures,
        streamer.stats.kinds,
    )

    def key(e: dict) -> tuple:
        return (e["table"], e["op"], e["pk"], e["txid"], e.get("episode"), tuple(e.get("unchanged_toast", ())))

    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    rows = ledger_from_table(config, TABLE)
    assert [key(e) for e in rows] == [key(e) for e in lines]
    assert len(rows) == sum(len(cs) for cs in events) and any(e.get("unchanged_toast") for e in rows)
    # `ledger` reads the table when LEDGER_TABLE is set, and says the same as from the file.
    for name, value in {"LEDGER_TABLE": TABLE, "LEDGER_FILE": str(tmp_path / "ledger.jsonl")}.items():
        monkeypatch.setenv(name, value)
    from_table, from_file = io.StringIO(), io.StringIO()
    with redirect_stdout(from_table):
        assert cli.main(["ledger"]) == 0
    with redirect_stdout(from_file):
        assert cli.main(["ledger", "--file", str(tmp_path / "ledger.jsonl")]) == 0
    assert from_table.getvalue().splitlines()[1:] == from_file.getvalue().splitlines()[1:]
    assert "episodes:" in from_table.getvalue()
