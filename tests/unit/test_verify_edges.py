"""verify for truncates, logical decoding messages and partitions: each check passes on a faithful
dump and says no on a tampered one; a skipped truncate is a known loss, not a mismatch."""

from __future__ import annotations

import base64
import json

from daemon.cdc.debezium import read_events
from daemon.cdc.reconcile import reconcile
from daemon.cdc.verify_edges import compared, settle, split
from tests.unit.test_verify import begin, end, envelope, ledger_entry, verify

PREFIX = "hospital-sim"
PANEL = '{"tipo":"ocupacao_leitos","ala":"UTI Adulto","leitos":20,"ocupados":17}'
AUDIT = '{"tipo":"auditoria","evento":"acesso_prontuario","paciente_id":42,"motivo":"Evolução clínica"}'


def truncate(table, txid):
    source = {"table": table, "schema": "public", "txId": txid, "lsn": 900}
    return json.dumps({"before": None, "after": None, "op": "t", "ts_ms": 1, "source": source})


def message(prefix, content, txid, encode=base64.b64encode, wrap=False):
    value = {
        "op": "m",
        "ts_ms": 1,
        "source": {"table": "", "schema": "", "txId": txid, "lsn": 950},
        "message": {"prefix": prefix, "content": encode(content.encode()).decode()},
    }
    return json.dumps({"schema": {"type": "struct"}, "payload": value} if wrap else value)


def message_entry(content, txid, transactional):
    return {
        **ledger_entry("", "message", 0, txid),
        "prefix": PREFIX,
        "content": content,
        "transactional": transactional,
    }


LEDGER = [
    ledger_entry("fila_triagem", "insert", 1, 500),
    ledger_entry("fila_triagem", "truncate", 0, 501),
    ledger_entry("fila_triagem", "insert", 2, 502),
    ledger_entry("fila_triagem", "truncate", 0, 503),
    message_entry(PANEL, 504, True),
    message_entry(AUDIT, 505, False),
]
FAITHFUL = [
    envelope("fila_triagem", "c", 1, 500),
    truncate("fila_triagem", 501),
    envelope("fila_triagem", "c", 2, 502),
    truncate("fila_triagem", 503),
    message(PREFIX, PANEL, 504, wrap=True),
    message(PREFIX, AUDIT, None),
    message("hsim-sentinel-0", "", 506),  # another prefix: counted, not checked
]


def test_faithful_truncates_and_messages_pass_strict(tmp_path):
    code, text, doc = verify(FAITHFUL, LEDGER, tmp_path, strict=True)
    assert code == 0, text
    assert "truncates: ledger fila_triagem 2; arrived 2" in text
    assert "logical decoding messages: ledger 2, arrived 2, 1 of other prefixes (not checked)" in text
    assert "known loss" not in text
    assert doc["edges"]["messages"] == {"ledger": 2, "arrived": 2, "foreign": 1, "missing": [], "duplicated": [],
                                        "unexpected": [], "wrong_txid": []}  # fmt: skip
    # Rows and truncates are not mixed: the row changes reconcile on their own.
    assert [(t["table"], t["op"], t["missing"]) for t in doc["tables"]] == [("fila_triagem", "insert", 0)]
    # hex and base64-url renderings (binary.handling.mode) match too
    hexed = [*FAITHFUL[:4], message(PREFIX, PANEL, 504, encode=lambda b: b.hex().encode()),
             message(PREFIX, AUDIT, None, encode=base64.urlsafe_b64encode)]  # fmt: skip
    assert verify(hexed, LEDGER, tmp_path, strict=True)[0] == 0


def test_skipped_truncates_are_a_known_loss_naming_the_setting(tmp_path):
    dump = [line for line in FAITHFUL if '"op": "t"' not in line]
    code, text, doc = verify(dump, LEDGER, tmp_path, strict=True)
    assert code == 0, text
    assert "known loss: 2 truncate(s) not delivered" in text and "skipped.operations=none" in text
    assert doc["edges"]["truncates"]["known_loss"] == "skipped.operations (truncates skipped)"


def test_a_lost_or_foreign_truncate_says_no(tmp_path):
    one_lost = [line for line in FAITHFUL if '"txId": 503' not in line]
    code, text, doc = verify(one_lost, LEDGER, tmp_path)
    assert code == 1 and "truncate missing: fila_triagem txid=503" in text
    assert doc["edges"]["truncates"]["missing"] == ["fila_triagem txid=503"]
    extra = [*FAITHFUL, truncate("fila_triagem", 777)]
    assert verify(extra, LEDGER, tmp_path)[0] == 0  # unexpected: only strict says no
    code, text, _ = verify(extra, LEDGER, tmp_path, strict=True)
    assert code == 1 and "truncate unexpected: fila_triagem txid=777" in text
    code, text, _ = verify([*FAITHFUL, truncate("fila_triagem", 503)], LEDGER, tmp_path, strict=True)
    assert code == 1 and "truncate duplicated: fila_triagem txid=503" in text


def test_a_tampered_message_says_no(tmp_path):
    changed = [*FAITHFUL[:4], message(PREFIX, PANEL.replace("17", "18"), 504), FAITHFUL[5]]
    code, text, doc = verify(changed, LEDGER, tmp_path)
    assert code == 1, text
    assert "message missing: prefix=hospital-sim txid=504 (transactional)" in text
    assert doc["edges"]["messages"]["unexpected"] == ["prefix=hospital-sim line 5: content not in the ledger"]
    # A non-transactional message carries no txId; a transactional one its own.
    with_txid = [*FAITHFUL[:5], message(PREFIX, AUDIT, 505)]
    code, text, _ = verify(with_txid, LEDGER, tmp_path)
    assert code == 1 and "source.txId 505 (expected null: a non-transactional message)" in text
    wrong_txid = [*FAITHFUL[:4], message(PREFIX, PANEL, 999), FAITHFUL[5]]
    code, text, _ = verify(wrong_txid, LEDGER, tmp_path)
    assert code == 1 and "source.txId 999 (expected 504)" in text
    twice = [*FAITHFUL, message(PREFIX, AUDIT, None)]
    assert verify(twice, LEDGER, tmp_path)[0] == 0
    code, text, _ = verify(twice, LEDGER, tmp_path, strict=True)
    assert code == 1 and "message duplicated: prefix=hospital-sim txid=505" in text


def test_transaction_records_of_truncates_and_messages_are_expected(tmp_path):
    dump = [begin(500), FAITHFUL[0], end(500, fila_triagem=1), begin(501), FAITHFUL[1], end(501, fila_triagem=1),
            begin(502), FAITHFUL[2], end(502, fila_triagem=1), begin(503), FAITHFUL[3], end(503, fila_triagem=1),
            begin(504), FAITHFUL[4], end(504, LOGICAL_DECODING_MESSAGE=1), FAITHFUL[5]]  # fmt: skip
    code, text, _ = verify(dump, LEDGER, tmp_path, strict=True)
    assert code == 0, text
    stranger = [*dump, begin(600), end(600)]  # a transaction the ledger knows nothing of
    assert verify(stranger, LEDGER, tmp_path, strict=True)[0] == 1
    # An END that does not count its truncate or its message says no.
    uncounted = [*dump[:5], end(501), *dump[6:14], end(504, LOGICAL_DECODING_MESSAGE=2), dump[15]]
    code, text, doc = verify(uncounted, LEDGER, tmp_path)
    assert code == 1 and [w["txid"] for w in doc["transactions"]["wrong_end"]] == [501, 504], text
    # Truncates skipped: their transactions' END (if the connector writes one) counts nothing.
    skipped = [line for line in dump if '"op": "t"' not in line]
    assert verify([*skipped[:4], end(501), *skipped[5:]], LEDGER, tmp_path, strict=True)[0] == 0
    # Debezium's own naming of the message's data collection (measured with 3.x) counts as the message.
    named = end(504, **{"io.debezium.connector.postgresql.LogicalDecodingMessageMonitor$LogicalDecodingMessageId@3": 1})
    assert verify([*dump[:14], named.replace("public.io.", "io."), dump[15]], LEDGER, tmp_path, strict=True)[0] == 0


def vital(table, pk, txid, measured="2026-12-04T18:00:00.123456Z"):
    return envelope(table, "c", pk, txid, after={"id": pk, "internacao_id": 3, "medido_em": measured})


VITALS_LEDGER = [ledger_entry("sinais_vitais", "insert", 1, 700), ledger_entry("sinais_vitais", "insert", 2, 701)]


def edges_of(lines, via_root):
    events = list(read_events(lines))
    mapped, ledger, check = split(events, VITALS_LEDGER, via_root)
    rec = reconcile(mapped, ledger)
    settle(rec, check, mapped)
    return rec, check


def test_partition_events_are_mapped_to_the_parent_when_the_publication_publishes_partitions():
    on_partitions = [vital("sinais_vitais_2026_12", 1, 700), vital("sinais_vitais_2026_12", 2, 701),
                     end(701, sinais_vitais_2026_12=1)]  # fmt: skip
    rec, check = edges_of(on_partitions, via_root=False)
    assert not rec.missing and not rec.unexpected and check.failures(strict=True) == 0
    assert check.partition_events == {"sinais_vitais_2026_12": 2}
    assert "partition events mapped to their parent: sinais_vitais_2026_12 2" in check.lines()
    # The same events say no when the publication publishes via the root...
    _, check = edges_of(on_partitions, via_root=True)
    assert check.failures(strict=False) == 2 and "(expected sinais_vitais)" in check.wrong_route[0]
    # ...and parent events say no when it does not.
    on_parent = [vital("sinais_vitais", 1, 700), vital("sinais_vitais", 2, 701)]
    rec, check = edges_of(on_parent, via_root=True)
    assert not rec.missing and check.failures(strict=True) == 0 and check.parent_events == {"sinais_vitais": 2}
    _, check = edges_of(on_parent, via_root=False)
    assert len(check.wrong_route) == 2 and "(expected a partition)" in check.wrong_route[0]
    # Unknown setting (no config): either way passes.
    assert edges_of(on_parent, via_root=None)[1].failures(strict=True) == 0
    # A reading in a partition that is not its month's says no.
    misplaced = [vital("sinais_vitais_2026_11", 1, 700), vital("sinais_vitais_2026_12", 2, 701)]
    _, check = edges_of(misplaced, via_root=False)
    assert check.wrong_partition == ["sinais_vitais_2026_11 id=1 line 1: measured in 2026-12"]


def test_end_records_name_the_parent_after_mapping():
    closing = end(700, sinais_vitais_2026_11=1, sinais_vitais_2026_12=1)
    two = [begin(700), vital("sinais_vitais_2026_11", 1, 700, "2026-11-30T23:59:00Z"),
           vital("sinais_vitais_2026_12", 2, 700), closing]  # fmt: skip
    events = list(read_events(two))
    ledger = [ledger_entry("sinais_vitais", "insert", 1, 700), ledger_entry("sinais_vitais", "insert", 2, 700)]
    mapped, rest, check = split(events, ledger, via_root=False)
    rec = reconcile(mapped, rest)
    assert rec.transactions.failures(strict=True) == 0 and check.failures(strict=True) == 0
    assert mapped[-1].payload["data_collections"] == [{"data_collection": "public.sinais_vitais", "event_count": 2}]


def test_rows_of_a_truncated_table_end_at_the_truncate():
    from daemon.cdc.verify import final_states

    events = list(read_events([FAITHFUL[0], envelope("consultas", "c", 1, 500), FAITHFUL[1], FAITHFUL[2]]))
    states = {(k.table, k.pk): v for k, v in final_states(events).items()}
    assert states[("fila_triagem", 1)] is None  # truncated: a sink holds no such row
    assert states[("fila_triagem", 2)] == {"id": 2} and states[("consultas", 1)] == {"id": 1}


def test_a_table_whose_truncates_were_lost_is_not_compared_with_the_live_rows():
    events = list(read_events(FAITHFUL))
    assert compared(split(events, LEDGER, None)[2]) == ("fila_triagem", "sinais_vitais")
    skipped = [e for e in events if e.op != "truncate"]
    assert compared(split(skipped, LEDGER, None)[2]) == ("sinais_vitais",)  # a sink still holds those rows
    one_lost = [e for e in events if not (e.op == "truncate" and e.txid == 503)]
    assert compared(split(one_lost, LEDGER, None)[2]) == ("sinais_vitais",)
