"""Episodes through the real connector: each arrives as one whole transaction (BEGIN, its changes,
an END counting them), and the episodes that failed on purpose arrive not at all."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from daemon.cdc.ledger import Ledger, read_ledger
from daemon.cdc.verify import run_verify
from daemon.stream.kinds.episodes import EPISODES
from daemon.stream.stats import DELIBERATE_ROLLBACK
from tests.support.debezium_engine import captured, drain, parse


@pytest.mark.seeded(SEED_SCALE="0.1")
def test_episodes_arrive_whole_and_failed_ones_not_at_all(make_config, make_streamer, db, tmp_path: Path) -> None:
    config = make_config(STREAM_OP_WEIGHTS="episode=1", STREAM_EPISODE_FAILURE_SHARE="0.3")
    ledger_path = tmp_path / "ledger.jsonl"
    ledger = Ledger(ledger_path)
    with captured(db, config, "hsim_episodes", tmp_path, transaction_metadata=True) as capture:
        streamer = make_streamer(config, ledger)
        for _ in range(300):
            streamer.run_event()
            done = {k.name for k in EPISODES} <= set(streamer.stats.kinds)
            if done and streamer.stats.failures[DELIBERATE_ROLLBACK] >= 2:
                break
        ledger.close()
        records = drain(db, capture)

    assert streamer.stats.failures[DELIBERATE_ROLLBACK] >= 2
    entries = list(read_ledger(ledger_path))
    per_txid = Counter(e["txid"] % 2**32 for e in entries)
    episode_of = {e["txid"] % 2**32: e["episode"] for e in entries}
    events = [parse(r) for r in records if not r.destination.endswith(".transaction")]
    ends = {}
    for record in records:
        if record.destination.endswith(".transaction") and record.value:
            value = json.loads(record.value)
            if value["status"] == "END":
                ends[int(value["id"].split(":")[0]) % 2**32] = value["event_count"]
    # Every change Debezium delivered belongs to a committed episode: nothing of the failed ones.
    assert {e.txid % 2**32 for e in events if e.txid is not None} <= set(per_txid)
    # Each episode's END counts exactly its changes in the ledger, for every kind of episode.
    assert {txid: ends.get(txid) for txid in per_txid} == dict(per_txid)
    assert set(episode_of.values()) == {k.name for k in EPISODES}
    assert all(n >= 2 for n in per_txid.values())
    # And `verify` agrees, transaction metadata included.
    dump = tmp_path / "events.jsonl"
    dump.write_text("\n".join(r.value or "null" for r in records) + "\n")
    out = io.StringIO()
    assert run_verify(config, str(dump), ledger_path=ledger_path, out=out) == 0, out.getvalue()
    assert "transaction metadata:" in out.getvalue()
