"""verify for schema changes made while streaming: a faithful dump passes --strict; each tampered
shape (a column where it does not exist, none where it does, a long value before the widen, a
label before its ALTER TYPE, the wrong source length) says no; an enum schema without the new
label is a known loss."""

from __future__ import annotations

import json

import pytest

from daemon.cdc.debezium import read_events
from daemon.cdc.reconcile import reconcile
from daemon.cdc.verify_ddl import UNCHECKED, matches_default, split
from tests.unit.test_verify import begin, end, ledger_entry, verify

EPOCH = 3 << 32  # the ledger's txid_current() carries an epoch; Debezium's source.txId does not
OLD_ALLOWED = "aberta,faturada,glosada,paga"
NEW_ALLOWED = OLD_ALLOWED + ",em_recurso"
BASE = ("id", "status", "senha_autorizacao")
WITH_OBS = (*BASE, "observacao_auditoria")
WITH_BOTH = (*WITH_OBS, "versao_tiss")
DROPPED = (*BASE, "versao_tiss")
VALUES = {"status": "aberta", "senha_autorizacao": "A1B2C3D4E5F6", "observacao_auditoria": None,
          "versao_tiss": "4.01.00"}  # fmt: skip
LONG_SENHA = "AUT-2026-000123456"  # 18 characters: fits only the widened VARCHAR(20)


def field_schema(column, width, allowed):
    if column == "id":
        return {"field": "id", "type": "int64", "optional": False}
    if column == "status":
        return {"field": "status", "type": "string", "optional": False, "name": "io.debezium.data.Enum",
                "version": 1, "parameters": {"allowed": allowed}}  # fmt: skip
    if column == "senha_autorizacao":
        source = {"__debezium.source.column.type": "VARCHAR", "__debezium.source.column.length": str(width)}
        return {"field": column, "type": "string", "optional": True, "parameters": source}
    return {"field": column, "type": "string", "optional": column != "versao_tiss"}


def guia(op, pk, txid, columns, width=12, allowed=OLD_ALLOWED, wrap=True, fields=None, **values):
    """A faturamento change event of a table whose columns are ``columns`` (``fields``: those with a
    field schema, the same unless a test tampers with it); ``values`` override the usual ones."""
    after = {column: pk if column == "id" else values.get(column, VALUES.get(column)) for column in columns}
    payload = {
        "before": None,
        "after": after,
        "op": op,
        "ts_ms": 1,
        "source": {"table": "faturamento", "schema": "public", "txId": txid, "lsn": 10 * txid, "snapshot": "false"},
        "transaction": None
        if op == "r"
        else {"id": f"{txid}:{10 * txid}", "total_order": 1, "data_collection_order": 1},  # fmt: skip
    }
    if not wrap:
        return json.dumps(payload)
    value = {"type": "struct", "optional": True, "fields": [field_schema(c, width, allowed) for c in fields or columns]}
    schema = {"type": "struct", "fields": [{**value, "field": "before"}, {**value, "field": "after"},
                                           {"field": "source", "type": "struct", "fields": []}]}  # fmt: skip
    return json.dumps({"schema": schema, "payload": payload})


def ddl(txid, step, kind, column, **detail):
    return {**ledger_entry("faturamento", "ddl", 0, EPOCH + txid), "step": step, "ddl": kind, "column": column,
            **detail, "statement": f"ALTER TABLE faturamento ... -- {step}"}  # fmt: skip


def row(op, pk, txid):
    return ledger_entry("faturamento", op, pk, EPOCH + txid)


LEDGER = [
    row("insert", 1, 100),
    row("update", 1, 101),
    ddl(200, "add_observacao", "add_column", "observacao_auditoria", default=None),
    row("insert", 2, 201),
    ddl(202, "add_versao_tiss", "add_column", "versao_tiss", default="4.01.00"),
    row("update", 1, 203),
    ddl(204, "widen_senha", "alter_type", "senha_autorizacao", old_width=12, width=20),
    row("insert", 3, 205),
    ddl(206, "add_em_recurso", "add_enum_value", "status", type="status_guia", label="em_recurso"),
    row("update", 2, 207),
    ddl(208, "drop_observacao", "drop_column", "observacao_auditoria"),
    row("update", 3, 209),
]
DDL_TXIDS = (200, 202, 204, 206, 208)


def events(allowed=NEW_ALLOWED, wrap=True, **replaced):
    """The faithful dump's change events by txid (``allowed``: the enum's values after the step, as
    a connector restarted after it sees them); ``replaced``: ``t<txid>`` -> a tampered event."""
    faithful = {
        100: guia("c", 1, 100, BASE, wrap=wrap),
        101: guia("u", 1, 101, BASE, wrap=wrap, status="faturada"),
        201: guia("c", 2, 201, WITH_OBS, wrap=wrap),
        203: guia("u", 1, 203, WITH_BOTH, wrap=wrap, status="glosada", observacao_auditoria="glosa revista"),
        205: guia("c", 3, 205, WITH_BOTH, 20, wrap=wrap, senha_autorizacao=LONG_SENHA),
        207: guia("u", 2, 207, WITH_BOTH, 20, allowed, wrap=wrap, status="em_recurso"),
        209: guia("u", 3, 209, DROPPED, 20, allowed, wrap=wrap, status="em_recurso", senha_autorizacao=LONG_SENHA),
    }
    return {txid: replaced.get(f"t{txid}", line) for txid, line in faithful.items()}


def dump(changes):
    """The events with their transactions' BEGIN/END, and the DDL transactions' (as when a published
    LEDGER_TABLE gets a row in each)."""
    lines = []
    for txid in sorted([*changes, *DDL_TXIDS]):
        inside = [changes[txid]] if txid in changes else []
        lines += [begin(txid), *inside, end(txid, **({"faturamento": 1} if inside else {"hsim_ledger": 1}))]
    return lines


def test_the_faithful_dump_passes_strict_and_the_ddl_is_no_missing_change(tmp_path):
    code, text, doc = verify(dump(events()), LEDGER, tmp_path, strict=True)
    assert code == 0, text
    assert (
        "schema changes: 5 in the ledger (add_observacao, add_versao_tiss, widen_senha, add_em_recurso, "
        "drop_observacao); faturamento events checked against them: 7"
    ) in text
    for line in (
        "  add_observacao: faturamento.observacao_auditoria added at txid 200 (default NULL): 2 event(s) before it, "
        "5 after it",
        "  add_versao_tiss: faturamento.versao_tiss added at txid 202 (default '4.01.00'): 3 event(s) before it, "
        "4 after it",
        "  widen_senha: faturamento.senha_autorizacao widened 12 -> 20 at txid 204: 4 event(s) before it, 3 after "
        "it; 2 value(s) longer than the old width after it; 7 field schema(s) with the expected source column length",
        "  add_em_recurso: faturamento.status (status_guia) gains 'em_recurso' at txid 206: 2 event(s) carry it, "
        "2 with it in the schema's allowed values, 0 without",
        "  drop_observacao: faturamento.observacao_auditoria dropped at txid 208: 6 event(s) before it, 1 after it",
    ):
        assert line in text.splitlines(), text
    assert "known loss" not in text and "transaction not in the ledger" not in text
    assert [(t["op"], t["ledger"], t["missing"]) for t in doc["tables"]] == [("insert", 3, 0), ("update", 4, 0)]
    steps = {s["step"]: s for s in doc["ddl"]["steps"]}
    dropped = {"column": "observacao_auditoria", "txid": 208, "before": 6, "after": 1}
    assert steps["drop_observacao"] == {
        "step": "drop_observacao",
        "ddl": "drop_column",
        "table": "faturamento",
        **dropped,
    }
    assert steps["widen_senha"]["longer"] == 2 and steps["add_em_recurso"]["listed"] == 2
    assert not any(doc["ddl"]["mismatches"].values()) and doc["ddl"]["checked"] == 7


def test_without_schemas_the_values_alone_are_checked(tmp_path):
    assert verify(dump(events(wrap=False)), LEDGER, tmp_path, strict=True)[0] == 0
    missing = events(wrap=False, t201=guia("c", 2, 201, BASE, wrap=False))
    code, text, _ = verify(dump(missing), LEDGER, tmp_path)
    assert code == 1 and "observacao_auditoria after add_observacao (txid 200) without its value" in text, text


@pytest.mark.parametrize(
    ("tampered", "key", "expected"),
    [
        (  # (a) an event after the ADD lacking the field
            {"t201": guia("c", 2, 201, WITH_OBS, fields=BASE)},
            "column_missing",
            "faturamento id=2 txid=201 line 10: observacao_auditoria after add_observacao (txid 200) without its "
            "field schema",
        ),
        (  # (b) an event before the ADD with the field
            {"t101": guia("u", 1, 101, WITH_OBS, status="faturada")},
            "column_present",
            "observacao_auditoria before add_observacao (txid 200) with its value and field schema",
        ),
        (  # (c) an event after the DROP with the column
            {"t209": guia("u", 3, 209, WITH_BOTH, 20, NEW_ALLOWED, status="em_recurso")},
            "column_present",
            "faturamento id=3 txid=209 line 30: observacao_auditoria after drop_observacao (txid 208) with its value "
            "and field schema",
        ),
        (  # (d) a value longer than the old width before the widen
            {"t203": guia("u", 1, 203, WITH_BOTH, senha_autorizacao=LONG_SENHA)},
            "long_before_widen",
            "senha_autorizacao holds 18 characters before widen_senha (txid 204, old width 12)",
        ),
        (  # (e) the enum label before its ALTER TYPE
            {"t101": guia("u", 1, 101, BASE, status="em_recurso")},
            "label_before_step",
            "faturamento id=1 txid=101 line 5: status = 'em_recurso' before add_em_recurso (txid 206)",
        ),
        (  # (f) the old source length after the widen
            {"t205": guia("c", 3, 205, WITH_BOTH, 12, senha_autorizacao=LONG_SENHA)},
            "wrong_source_length",
            "senha_autorizacao __debezium.source.column.length=12 after widen_senha (txid 204), expected 20",
        ),
        (  # ... and the new one before it
            {"t100": guia("c", 1, 100, BASE, 20)},
            "wrong_source_length",
            "senha_autorizacao __debezium.source.column.length=20 before widen_senha (txid 204), expected 12",
        ),
    ],
    ids=[
        "missing-after-add",
        "present-before-add",
        "present-after-drop",
        "long-before-widen",
        "label-before-step",
        "old-length-after-widen",
        "new-length-before-widen",
    ],  # fmt: skip
)
def test_a_tampered_shape_says_no(tmp_path, tampered, key, expected):
    code, text, doc = verify(dump(events(**tampered)), LEDGER, tmp_path)
    assert code == 1, text
    assert expected in text
    assert any(expected in item for item in doc["ddl"]["mismatches"][key])
    assert doc["failures"] == 1


def test_an_enum_schema_without_the_new_label_is_a_known_loss(tmp_path):
    code, text, doc = verify(dump(events(allowed=OLD_ALLOWED)), LEDGER, tmp_path, strict=True)
    assert code == 0, text
    assert (
        "known loss: faturamento.status label 'em_recurso' missing from the schema's allowed values (Debezium's "
        "type registry is primed at connector start; a restart refreshes it) (2 values)"
    ) in text
    assert doc["ddl"]["known_losses"] == [{"table": "faturamento", "column": "status", "label": "em_recurso",
                                           "count": 2}]  # fmt: skip


def test_ddl_left_in_the_ledger_would_be_missing_changes():
    changes = list(read_events(events().values()))
    assert reconcile(changes, LEDGER).missing == {("faturamento", "ddl"): 5}
    ledger, check = split(changes, LEDGER)
    assert ledger == [e for e in LEDGER if e["op"] != "ddl"] and not reconcile(changes, ledger).missing
    assert check.txids == set(DDL_TXIDS)


def test_snapshot_reads_are_counted_not_ordered(tmp_path):
    # The snapshot's txid precedes the ADD COLUMN, yet it read the table's shape after it.
    read = guia("r", 1, 150, WITH_BOTH, status="faturada")
    code, text, _ = verify([*dump(events()), read], LEDGER, tmp_path, strict=True)
    assert code == 0, text
    assert "checked against them: 7; 1 snapshot read(s) not checked" in text


def test_ddl_of_an_unknown_kind_fails_only_strict(tmp_path):
    ledger = [*LEDGER, ddl(300, "rename_guia", "rename_column", "numero_guia")]
    code, text, doc = verify(dump(events()), ledger, tmp_path)
    assert code == 0 and f"{UNCHECKED}: rename_guia (rename_column, txid {EPOCH + 300})" in text
    assert doc["ddl"]["unchecked"] and verify(dump(events()), ledger, tmp_path, strict=True)[0] == 1


def test_txids_are_ordered_across_wraparound(tmp_path):
    ledger = [ddl(2**32 - 3, "add_observacao", "add_column", "observacao_auditoria", default=None), row("insert", 1, 4)]
    assert verify([guia("c", 1, 4, WITH_OBS)], ledger, tmp_path, strict=True)[0] == 0
    code, text, _ = verify([guia("c", 1, 4, BASE)], ledger, tmp_path)
    assert code == 1 and "after add_observacao (txid 4294967293) without its value and field schema" in text


def test_columns_added_and_kept_have_their_defaults_for_the_final_state():
    _, check = split(list(read_events(events().values())), LEDGER)
    assert check.added_defaults() == {"faturamento": {"versao_tiss": "4.01.00"}}  # observacao_auditoria dropped
    assert matches_default(None, None) and matches_default("4.01.00", "4.01.00")
    assert not matches_default("", None) and not matches_default(None, "4.01.00")
    assert not matches_default("4.02.00", "4.01.00")


def test_the_text_report_shows_twenty_mismatches_and_json_all(tmp_path):
    ledger = [*(row("insert", pk, pk) for pk in range(1, 23)), ddl(100, "add_observacao", "add_column",
              "observacao_auditoria", default=None)]  # fmt: skip
    early = [guia("c", pk, pk, WITH_OBS) for pk in range(1, 23)]  # all before the ADD, all with the column
    code, text, doc = verify(early, ledger, tmp_path)
    assert code == 1 and doc["failures"] == 22
    assert text.count("schema change: column present where it does not exist: ") == 20
    assert "  ... 2 more schema change: column present where it does not exist (--json lists all)" in text
    assert len(doc["ddl"]["mismatches"]["column_present"]) == 22
