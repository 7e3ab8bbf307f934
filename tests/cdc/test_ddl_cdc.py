"""Schema changes while streaming, through the real connector (schemas enabled, transaction
metadata on): the five steps of STREAM_DDL_EVERY_SECONDS interleaved with guia traffic, the
daemon restarted mid-sequence and the connector restarted on its offsets after the enum label.

The connector keeps running; every faturamento event committed after an ADD COLUMN carries the
field (value and schema) and none before it does, a dropped column leaves the events after its
DROP; the widened column carries longer codes; inserts and updates using the enum label added
mid-run (an appeal: a glosada guia updated, a recurso guia inserted) are delivered, and the label is
in the schema's ``allowed`` values once the connector has restarted (Debezium reads enum labels when
it starts; before that, ``verify`` reports a known loss); ``verify --strict`` exits 0, and 1 on a
dump whose field went missing after an ADD COLUMN."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from daemon.cdc.debezium import ChangeEvent, xid32, xid_precedes
from daemon.cdc.ledger import Ledger, read_ledger
from daemon.cdc.verify import run_verify
from daemon.stream.ddl import STEPS
from daemon.stream.kinds.shape import EM_RECURSO, OBSERVACAO, SENHA, VERSAO_TISS
from tests.support.debezium_engine import capture_for, create_slot, drain, drop_slot, parse, without_sentinels

PUBLICATION = "hsim_ddl"
EVERY = 5.0
GUIAS = "guia_abertura=8,guia_faturamento=8,guia_desfecho=12,guia_recurso=6"
EVENTS_BETWEEN = 70  # events between two schema changes
CONNECTOR = {
    "table.include.list": "public.consultas,public.faturamento",
    "key.converter.schemas.enable": "true",
    "value.converter.schemas.enable": "true",
    "provide.transaction.metadata": "true",
}


# The daemon's clock is driven by the test: each step comes EVERY "seconds" after the last, with
# EVENTS_BETWEEN events in between (the real-time cadence is the acceptance test's).
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def after(event: ChangeEvent, txid: int) -> bool:
    return xid_precedes(xid32(txid) or 0, xid32(event.txid) or 0)


@pytest.mark.seeded(SCHEMA_EXTRAS="faturamento", SEED_SCALE="0.2")  # glosadas of internações to appeal
def test_schema_changes_arrive_through_debezium(make_config, make_streamer, bootstrap, db, tmp_path: Path) -> None:
    # Guia traffic, with consultas realised for guia_abertura to bill (the captured tables only).
    config = make_config(CDC_PUBLICATION=PUBLICATION, STREAM_DDL_EVERY_SECONDS=str(EVERY),
                         STREAM_OP_WEIGHTS="insert=1,update=2", STREAM_INSERT_WEIGHTS="consultas=1",
                         STREAM_UPDATE_WEIGHTS="consulta_status=1",
                         STREAM_EXTRA_WEIGHTS=GUIAS)  # fmt: skip
    bootstrap(config)
    slot = f"dbz_ddl_{config.pg.database}"
    create_slot(db, slot)
    ledger_path = tmp_path / "ledger.jsonl"
    clock = Clock()
    records = []
    first = capture_for(config, slot, PUBLICATION, tmp_path, **CONNECTOR)
    try:
        first.start()
        ledger = Ledger(ledger_path)
        streamer = make_streamer(config, ledger, clock=clock)
        for n, step in enumerate(STEPS):
            if n == 2:  # the daemon restarts mid-sequence: a new one reads the catalogue and goes on
                streamer.close()
                streamer = make_streamer(config, ledger, clock=clock)
            if n == 4:  # the connector restarts on its offsets (after the enum label is in use)
                drain(db, first)
                first.stop()
                records += without_sentinels(first.events())
                second = capture_for(config, slot, PUBLICATION, tmp_path, **CONNECTOR)
                second.start()
            clock.now += EVERY
            change = streamer.ddl.check()
            assert change is not None and dict(change.detail)["step"] == step.name
            assert streamer.run_events(EVENTS_BETWEEN) == EVENTS_BETWEEN
        ledger.close()
        drain(db, second)
        second.stop()  # raises if the connector failed at any point
        records += without_sentinels(second.events())
    finally:
        first.stop(raise_errors=False)
        if "second" in locals():
            second.stop(raise_errors=False)
        drop_slot(db, slot)

    ddl = {e["step"]: e["txid"] for e in read_ledger(ledger_path) if e["op"] == "ddl"}
    assert list(ddl) == [s.name for s in STEPS]
    events = [parse(r) for r in records if r.value and r.destination.endswith(".faturamento")]
    assert len(events) > 100
    for event in events:
        has = set(event.after or {}) & set(event.fields or {})
        assert set(event.after or {}) <= set(event.fields or {})  # a value always comes with its schema
        carried = OBSERVACAO in (event.after or {})
        want = after(event, ddl["add_observacao"]) and not after(event, ddl["drop_observacao"])
        assert carried == want == (OBSERVACAO in has), (event.line, event.txid, ddl)
        assert (VERSAO_TISS in has) == after(event, ddl["add_versao_tiss"]), (event.line, event.txid)
        if not after(event, ddl["widen_senha"]):
            assert len(event.after[SENHA] or "") <= 12
    # the stream used each change, and the connector delivered it
    assert any(e.after.get(VERSAO_TISS) == "4.02.00" for e in events)
    assert any(len(e.after[SENHA] or "") > 12 for e in events)
    assert any(e.after.get(OBSERVACAO) for e in events)
    labelled = [e for e in events if e.after["status"] == EM_RECURSO]
    assert labelled and all(after(e, ddl["add_em_recurso"]) for e in labelled)
    allowed = [EM_RECURSO in e.fields["status"]["parameters"]["allowed"].split(",") for e in labelled]
    restarted = [a for e, a in zip(labelled, allowed) if after(e, ddl["drop_observacao"])]
    assert restarted and all(restarted)  # once the connector has read the enum again
    appeals = [e for e in labelled if e.op == "insert" and after(e, ddl["drop_observacao"])]
    assert appeals and all(e.after["tipo_guia"] == "recurso_glosa" for e in appeals)  # inserts with the label
    before_restart = allowed[: len(allowed) - len(restarted)]
    assert before_restart and not any(before_restart)  # Debezium 3.x: labels are read at connector start

    dump = tmp_path / "events.jsonl"
    dump.write_text("".join((r.value or "null") + "\n" for r in records))
    out = io.StringIO()
    code = run_verify(config, str(dump), ledger_path=ledger_path, strict=True, out=out)
    assert code == 0, out.getvalue()
    report = out.getvalue()
    assert "schema changes: 5 in the ledger" in report, report
    assert f"known loss: faturamento.status label '{EM_RECURSO}' missing from the schema's allowed values" in report
    assert f"({len(before_restart)} values)" in report
    # an event after ADD COLUMN versao_tiss that lost its field: verify says no
    lines = dump.read_text().splitlines()
    index = next(
        i for i, line in enumerate(lines)
        if '"versao_tiss"' in line and '"faturamento"' in line and '"after":{' in line
    )  # fmt: skip
    value = json.loads(lines[index])
    del value["payload"]["after"][VERSAO_TISS]
    lines[index] = json.dumps(value)
    dump.write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    assert run_verify(config, str(dump), ledger_path=ledger_path, strict=True, out=out) == 1, out.getvalue()
    assert "schema change: column missing where it exists" in out.getvalue()
