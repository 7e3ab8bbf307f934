"""The daemon's traffic contains unchanged TOAST values and NULL transitions, and the real
connector renders them as the ledger says: the unavailable-value placeholder under REPLICA
IDENTITY DEFAULT exactly for the changes the ledger marks, complete values under FULL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from daemon.cdc.debezium import UNAVAILABLE
from daemon.cdc.ledger import Ledger
from daemon.cdc.verify import run_verify
from tests.support.db import query
from tests.support.debezium_engine import captured, drain, parse

PUBLICATION = "hsim_toast"


def run_until(streamer, done, limit: int = 400) -> list:
    """Run events until ``done(changes)`` holds (each event is drawn at random by the daemon's mix)."""
    changes: list = []
    while not done(changes):
        assert len(changes) < limit, "the daemon never produced the case"
        changes.extend(streamer.run_event())
    return changes


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_placeholders_under_default_identity_complete_values_under_full(
    make_config, make_streamer, db, tmp_path: Path
) -> None:
    config = make_config(STREAM_OP_WEIGHTS="update=1", STREAM_TOAST_SHARE="1")
    ledger_path = tmp_path / "ledger.jsonl"
    ledger = Ledger(ledger_path)
    with captured(db, config, PUBLICATION, tmp_path) as capture:  # the publication sets FULL: back to DEFAULT
        query(
            db, "ALTER TABLE exames REPLICA IDENTITY DEFAULT; ALTER TABLE pacientes REPLICA IDENTITY DEFAULT; SELECT 1"
        )
        # Long laudos arrive (every result long), then some are signed under identity DEFAULT.
        results = make_streamer(make_config(STREAM_UPDATE_WEIGHTS="exame_resultado=1", STREAM_TOAST_SHARE="1"))
        long_results = [c.pk for _ in range(6) for c in results.run_event()]
        assert len(long_results) == 6
        signer = make_streamer(make_config(STREAM_UPDATE_WEIGHTS="laudo_assinatura=1"), ledger)
        default_phase = run_until(signer, lambda cs: sum(bool(c.unchanged_toast) for c in cs) >= 2)
        query(db, "ALTER TABLE exames REPLICA IDENTITY FULL; ALTER TABLE pacientes REPLICA IDENTITY FULL; SELECT 1")
        full_phase = run_until(signer, lambda cs: sum(bool(c.unchanged_toast) for c in cs) >= 2)
        contact = make_streamer(make_config(STREAM_UPDATE_WEIGHTS="paciente_contato=1"), ledger)
        removed_phone = run_until(
            contact, lambda cs: bool(cs) and query(db, "SELECT telefone FROM pacientes WHERE id = %s", (cs[-1].pk,))
            == [(None,)],
        )  # fmt: skip
        records = drain(db, capture)
        ledger.close()
    events = [parse(r) for r in records]

    marked = {json.loads(line)["pk"] for line in ledger_path.read_text().splitlines() if "unchanged_toast" in line}
    signed = {(e.pk, e.txid): e for e in events if e.table == "exames" and e.op == "update"}
    for phase, identity in ((default_phase, "default"), (full_phase, "full")):
        for change in phase:
            event = signed[(change.pk, change.txid % 2**32)]
            stored = query(db, "SELECT resultado FROM exames WHERE id = %s", (change.pk,))[0][0]
            if identity == "default" and change.unchanged_toast:
                assert change.pk in marked
                assert event.after["resultado"] == UNAVAILABLE  # what a sink must not write over the laudo
                assert event.before is None
            else:
                assert event.after["resultado"] == stored  # short results inline; FULL logs the TOASTed value
                assert len(stored) > 2000 or not change.unchanged_toast
            if identity == "full":
                assert event.before is not None and event.before["resultado"] == stored
                assert event.before["laudo_assinado_em"] is None and event.after["laudo_assinado_em"] is not None
    unmarked_long = [c for c in default_phase if not c.unchanged_toast and len(
        query(db, "SELECT resultado FROM exames WHERE id = %s", (c.pk,))[0][0]) > 2000]  # fmt: skip
    assert unmarked_long == []  # every long laudo signed under DEFAULT was marked
    # A NULL transition: the phone removed arrives as null, with the number in the before-image.
    gone = removed_phone[-1]
    nulled = [e for e in events if e.table == "pacientes" and e.pk == gone.pk and e.after["telefone"] is None]
    assert nulled and nulled[-1].before["telefone"] is not None

    # verify: the placeholders the ledger marks are expected; one where it expects a value is a loss.
    dump = tmp_path / "events.jsonl"
    lines = [r.value or "null" for r in records]
    dump.write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    assert run_verify(None, str(dump), ledger_path=ledger_path, live=False, out=out) == 0, out.getvalue()
    assert "as the ledger expects: 2" in out.getvalue()
    short = next(c for c in default_phase if not c.unchanged_toast)
    index = next(i for i, e in enumerate(events) if e.table == "exames" and e.pk == short.pk and e.op == "update")
    doc = json.loads(lines[index])
    doc["after"]["resultado"] = UNAVAILABLE  # a pipeline that lost this short result
    lines[index] = json.dumps(doc)
    dump.write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    assert run_verify(None, str(dump), ledger_path=ledger_path, live=False, out=out) == 1
    assert f"exames update id={short.pk} txid={short.txid % 2**32}" in out.getvalue(), out.getvalue()
