"""SCHEMA_EXTRAS=faturamento through the real connector (a short smoke; the per-setting matrix of
the hard types is the types tests'): guias opened, billed and settled arrive as inserts and
updates of ``faturamento`` with their transaction ids, and ``verify`` says OK."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from daemon.cdc.ledger import Ledger, read_ledger
from daemon.cdc.verify import run_verify
from tests.support.debezium_engine import capture_for, create_slot, drain, drop_slot, parse

WEIGHTS = "guia_abertura=4,guia_faturamento=4,guia_desfecho=4"


@pytest.mark.seeded(SCHEMA_EXTRAS="faturamento", SEED_SCALE="0.05")
def test_guias_arrive_through_debezium_and_verify(make_config, make_streamer, bootstrap, db, tmp_path: Path) -> None:
    # Mostly guia events, with a few consultas realised for guia_abertura to bill.
    config = make_config(CDC_PUBLICATION="hsim_fat", STREAM_OP_WEIGHTS="insert=1,update=2",
                         STREAM_INSERT_WEIGHTS="consultas=1", STREAM_UPDATE_WEIGHTS="consulta_status=1",
                         STREAM_EXTRA_WEIGHTS=WEIGHTS.replace("=4", "=12"))  # fmt: skip
    bootstrap(config)  # the daemon's publication: the seven tables and faturamento
    slot = f"dbz_fat_{config.pg.database}"
    create_slot(db, slot)
    capture = capture_for(
        config, slot, "hsim_fat", tmp_path, **{"table.include.list": "public.consultas,public.faturamento"}
    )
    ledger_path = tmp_path / "ledger.jsonl"
    try:
        capture.start()
        streamer = make_streamer(config, Ledger(ledger_path))
        for _ in range(300):
            streamer.run_event()
            if min(streamer.stats.kinds[k] for k in ("guia_abertura", "guia_faturamento", "guia_desfecho")) >= 8:
                break
        streamer.ledger.close()
        records = drain(db, capture)
    finally:
        capture.stop(raise_errors=False)
        drop_slot(db, slot)

    entries = [e for e in read_ledger(ledger_path) if e["table"] == "faturamento"]
    assert Counter(e["op"] for e in entries)["insert"] >= 8 and Counter(e["op"] for e in entries)["update"] >= 16
    events = [parse(r) for r in records if r.value and r.destination.endswith(".faturamento")]
    assert sorted((e.op, e.pk, (e.txid or 0) % 2**32) for e in events) == sorted(
        (e["op"], e["pk"], e["txid"] % 2**32) for e in entries
    )
    dump = tmp_path / "events.jsonl"
    dump.write_text("".join((r.value or "null") + "\n" for r in records))
    out = io.StringIO()
    assert run_verify(config, str(dump), ledger_path=ledger_path, out=out) == 0, out.getvalue()
    assert "OK" in out.getvalue()
    # A guia update lost on the way: verify says no.
    lost = next(i for i, r in enumerate(records) if r.destination.endswith(".faturamento") and '"op":"u"' in r.value)
    dump.write_text("".join((r.value or "null") + "\n" for i, r in enumerate(records) if i != lost))
    out = io.StringIO()
    assert run_verify(config, str(dump), ledger_path=ledger_path, out=out) == 1
    assert "missing: faturamento update" in out.getvalue()
