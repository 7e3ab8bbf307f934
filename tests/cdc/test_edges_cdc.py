"""TRUNCATE, logical decoding messages and the partitioned table through the real connector.

One run of daemon traffic (SCHEMA_EXTRAS=fila_triagem,sinais_vitais, both message kinds) is
captured by two connectors at once, schemas enabled, each on its own slot and publication, both
publications made by the daemon's bootstrap:

- ``root``: publish_via_partition_root on, ``skipped.operations=none``, transaction metadata:
  every TRUNCATE arrives as one ``op: t`` event, vital signs on the parent's topic;
- ``parts``: publish_via_partition_root off (PostgreSQL's default), Debezium's default
  ``skipped.operations`` (truncates skipped): vital signs on the partitions' topics, the
  truncates a known loss.

While they run, a partition made ahead of time (as at a month change) joins both publications by
itself and a reading measured in it arrives: on a new partition topic, or the parent's.
Both get the messages on ``<topic.prefix>.message`` with the ledger's prefix and content, and a
null txId for the non-transactional ones; ``verify --strict`` passes for both.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from daemon.cdc.ledger import Ledger, read_ledger
from daemon.cdc.verify import run_verify
from daemon.pg import partitions
from daemon.stream.kinds import sinais
from daemon.stream.kinds.base import EventKind
from tests.support.debezium_engine import (
    ChangeRecord,
    capture_for,
    create_slot,
    drain,
    drop_slot,
    parse,
    without_sentinels,
)

PREFIX = "hsim-edges"
WEIGHTS = "triagem_chegada=6,triagem_passagem_turno=1.5,sinal_vital=5,mensagem_transacional=2,mensagem_avulsa=2"
TABLES = "public.pacientes,public.fila_triagem,public.sinais_vitais"
SCHEMAS = {"key.converter.schemas.enable": "true", "value.converter.schemas.enable": "true"}


def dump(records: list[ChangeRecord], path: Path) -> Path:
    path.write_text("".join((r.value or "null") + "\n" for r in records))
    return path


def verify(config, events: Path, ledger: Path) -> tuple[int, str, dict]:
    text, doc = io.StringIO(), io.StringIO()
    code = run_verify(config, str(events), ledger_path=ledger, strict=True, out=text)
    run_verify(config, str(events), ledger_path=ledger, strict=True, as_json=True, out=doc)
    return code, text.getvalue(), json.loads(doc.getvalue())


@pytest.mark.seeded(SCHEMA_EXTRAS="fila_triagem,sinais_vitais", SEED_SCALE="0.05")
def test_truncates_messages_and_partitions_through_debezium(make_config, make_streamer, bootstrap, db, tmp_path):
    common = {"STREAM_OP_WEIGHTS": "insert=1", "STREAM_INSERT_WEIGHTS": "pacientes=1", "STREAM_EXTRA_WEIGHTS": WEIGHTS,
              "STREAM_MESSAGE_PREFIX": PREFIX}  # fmt: skip
    root = make_config(CDC_PUBLICATION="edges_root", CDC_PUBLISH_VIA_PARTITION_ROOT="true", **common)
    parts = make_config(CDC_PUBLICATION="edges_parts", CDC_PUBLISH_VIA_PARTITION_ROOT="false", **common)
    bootstrap(root)
    bootstrap(parts)
    slots = {name: f"dbz_{name}_{root.pg.database}" for name in ("root", "parts")}
    for slot in slots.values():
        create_slot(db, slot)
    (tmp_path / "root").mkdir()
    (tmp_path / "parts").mkdir()
    captures = {
        "root": capture_for(root, slots["root"], "edges_root", tmp_path / "root",
                            **{"table.include.list": TABLES, "skipped.operations": "none", **SCHEMAS,
                               "provide.transaction.metadata": "true"}),
        "parts": capture_for(parts, slots["parts"], "edges_parts", tmp_path / "parts",
                             **{"table.include.list": f"{TABLES},public.sinais_vitais_.*", **SCHEMAS,
                                "topic.prefix": "parts"}),  # one topic prefix per engine: JMX names
    }  # fmt: skip
    ledger_path = tmp_path / "ledger.jsonl"
    records: dict[str, list[ChangeRecord]] = {}
    try:
        for capture in captures.values():
            capture.start()
        streamer = make_streamer(root, Ledger(ledger_path))
        for _ in range(400):
            streamer.run_event()
            kinds = streamer.stats.kinds
            if kinds["triagem_passagem_turno"] >= 3 and min(kinds[k] for k in ("mensagem_avulsa", "sinal_vital")) >= 3:
                if kinds["mensagem_transacional"] >= 3:
                    break
        # The month turns while the connectors run: the partition the daemon makes ahead of time
        # joins both publications by itself, and a reading measured in it arrives like the others.
        later = partitions.next_month(partitions.next_month(partitions.month_of(datetime.now(UTC))))
        keeper = partitions.PartitionKeeper(streamer.maintenance.connection, now=lambda: _midnight(later))
        assert partitions.partition_name(later) in keeper.check()
        streamer.ledger.record(_reading_in(streamer, later))
        streamer.ledger.close()
        for name, capture in captures.items():
            drain(db, capture)  # everything committed so far has arrived (messages are dropped from its list)
            records[name] = without_sentinels(capture.events())
    finally:
        for capture in captures.values():
            capture.stop(raise_errors=False)
        for slot in slots.values():
            drop_slot(db, slot)

    entries = list(read_ledger(ledger_path))
    truncates = [e for e in entries if e["op"] == "truncate"]
    messages = [e for e in entries if e["op"] == "message"]
    vitals = [e for e in entries if e["table"] == "sinais_vitais"]
    assert len(truncates) >= 3 and len(vitals) >= 3
    assert (
        Counter(m["transactional"] for m in messages)[True] >= 3
        and Counter(m["transactional"] for m in messages)[False] >= 3
    )

    # skipped.operations=none: every TRUNCATE is one op: t event on the table's topic, with its txid.
    t_events = [(r.destination, parse(r)) for r in records["root"] if r.value and '"op":"t"' in r.value]
    assert sorted((e.table, e.txid) for _, e in t_events) == sorted(
        ("fila_triagem", t["txid"] % 2**32) for t in truncates
    )
    assert {topic for topic, _ in t_events} == {"hsim.public.fila_triagem"}
    # Debezium's default skips them.
    assert not any(r.value and '"op":"t"' in r.value for r in records["parts"])

    # Messages: on <topic.prefix>.message, key {prefix}, the ledger's prefix and content (bytes: base64),
    # the transaction's txId for a transactional one, null for the others.
    for name, topic_prefix in (("root", "hsim"), ("parts", "parts")):
        delivered = []
        for r in records[name]:
            if r.destination != f"{topic_prefix}.message":
                continue
            key, value = json.loads(r.key or "null"), json.loads(r.value or "null")
            payload = value["payload"]
            assert payload["op"] == "m" and key["payload"] == {"prefix": PREFIX}
            content_field = next(f for f in value["schema"]["fields"] if f["field"] == "message")["fields"][1]
            assert content_field["field"] == "content" and content_field["type"] == "bytes"
            content = base64.b64decode(payload["message"]["content"]).decode()
            delivered.append((payload["message"]["prefix"], content, payload["source"]["txId"]))
        expected = [(m["prefix"], m["content"], m["txid"] % 2**32 if m["transactional"] else None) for m in messages]
        assert sorted(delivered, key=repr) == sorted(expected, key=repr), name

    # Vital signs: the parent's topic with publish_via_partition_root, the partitions' topics without.
    month = partitions.partition_name(partitions.month_of(datetime.now(UTC)))
    pks = sorted(v["pk"] for v in vitals)
    on_parent = [parse(r) for r in records["root"] if r.destination == "hsim.public.sinais_vitais"]
    assert sorted(e.pk for e in on_parent) == pks and {e.table for e in on_parent} == {"sinais_vitais"}
    assert not any(r.destination.startswith("hsim.public.sinais_vitais_") for r in records["root"])
    on_partitions = [(r.destination, parse(r)) for r in records["parts"] if "sinais_vitais" in r.destination]
    assert sorted(e.pk for _, e in on_partitions) == pks
    new = partitions.partition_name(later)
    assert {topic for topic, _ in on_partitions} == {f"parts.public.{month}", f"parts.public.{new}"}
    assert Counter(e.table for _, e in on_partitions) == {month: len(vitals) - 1, new: 1}  # (unless the month turned)

    # verify --strict passes for both; the skipped truncates are a known loss, not a mismatch.
    code, text, doc = verify(root, dump(records["root"], tmp_path / "root.jsonl"), ledger_path)
    assert code == 0, text
    assert "known loss" not in text and "publish_via_partition_root = true" in text
    assert "transaction metadata:" in text  # the truncates' and messages' BEGIN/END are expected
    assert doc["edges"]["truncates"]["arrived"] == {"fila_triagem": len(truncates)}
    assert doc["edges"]["messages"]["arrived"] == len(messages) and doc["edges"]["partitions"]["parent"]
    code, text, doc = verify(parts, dump(records["parts"], tmp_path / "parts.jsonl"), ledger_path)
    assert code == 0, text
    assert f"known loss: {len(truncates)} truncate(s) not delivered" in text and "skipped.operations=none" in text
    assert doc["edges"]["partitions"]["mapped"] == {month: len(vitals) - 1, new: 1}
    assert "publish_via_partition_root = false" in text
    # The opt-in tables' final state is compared with the live rows: the queue only where the truncates arrived.
    pacientes = sum(e["table"] == "pacientes" for e in entries)
    assert doc["final_state"]["rows"] == len(vitals) + pacientes
    code, text, doc = verify(root, dump(records["root"], tmp_path / "root.jsonl"), ledger_path)
    queued = sum(e["op"] == "insert" for e in entries if e["table"] == "fila_triagem")
    assert doc["final_state"]["rows"] == len(vitals) + pacientes + queued
    with db.cursor() as cur:  # a value the events never carried says no
        cur.execute("UPDATE sinais_vitais SET saturacao = 50 WHERE id = %s", (pks[0],))
    code, text, _ = verify(parts, dump(records["parts"], tmp_path / "parts.jsonl"), ledger_path)
    assert code == 1 and f"sinais_vitais id={pks[0]} saturacao: table='50'" in text, text
    # And the same dumps say no against the other publication's setting.
    code, text, _ = verify(parts, dump(records["root"], tmp_path / "swapped.jsonl"), ledger_path)
    assert code == 1 and "partition routing disagrees with publish_via_partition_root" in text


def _midnight(month: date) -> datetime:
    return datetime.combine(month, time(), UTC)


def _reading_in(streamer, month: date):
    """A vital sign measured in ``month``, through the daemon's writer (its one change)."""
    statement = sinais.sinal_vital(streamer.writers[0].ctx)
    late = dataclasses.replace(
        statement,
        body=statement.body.replace("SELECT pick.id, now()", "SELECT pick.id, %(medido)s"),
        params={**statement.params, "medido": _midnight(month) + timedelta(hours=9)},
    )
    kind = EventKind("sinal_vital", "sinais_vitais", "insert", (), lambda ctx: late, extra="sinais_vitais")
    applied = streamer.writers[0].apply(kind)
    assert applied is not None
    return applied[0][0]
