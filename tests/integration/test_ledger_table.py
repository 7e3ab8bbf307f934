"""LEDGER_TABLE: the ground truth kept in the database, written by each change's own statement."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from daemon import cli
from daemon.bootstrap import bootstrap_database
from daemon.cdc.ledger import Change, Ledger, ledger_from_table
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


def test_a_change_of_no_row_keeps_its_detail_in_file_and_table(make_config, pg_connect, db, tmp_path):
    """A ledger table made before ``detail`` existed gains it; both ledgers carry a change's detail."""
    config = make_config(LEDGER_TABLE=TABLE)
    db.cursor().execute(
        f"CREATE TABLE {TABLE} (id BIGSERIAL PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, pk BIGINT NOT NULL,"
        " txid BIGINT NOT NULL DEFAULT txid_current(), episode TEXT, unchanged_toast TEXT[],"
        " committed_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    bootstrap_database(pg_connect(config), config.cdc, config.schema.extras)
    detail = (("statement", "ALTER TABLE faturamento ADD COLUMN canal VARCHAR(20)"),)
    db.cursor().execute(
        f"INSERT INTO {TABLE} (tbl, op, pk, detail) VALUES ('faturamento', 'ddl', 0, %s)",
        (json.dumps(dict(detail)),),
    )
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.record(Change("faturamento", "ddl", 0, 1, detail=detail))
    ledger.close()
    line = json.loads((tmp_path / "ledger.jsonl").read_text())
    (row,) = ledger_from_table(config, TABLE)
    assert line["statement"] == row["statement"] == detail[0][1]
    assert (line["op"], row["op"]) == ("ddl", "ddl")
