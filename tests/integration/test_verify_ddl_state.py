"""verify's final state across schema changes, against real PostgreSQL: a row whose last event
preceded an ADD COLUMN holds the column's default without an event saying so (no difference);
a value changed without an event still differs; a dropped column is not compared."""

from __future__ import annotations

import io
import json

from daemon.cdc.debezium import xid32
from daemon.cdc.verify import run_verify

ADD_OBSERVACAO = "ALTER TABLE faturamento ADD COLUMN observacao_auditoria TEXT"
ADD_VERSAO = "ALTER TABLE faturamento ADD COLUMN versao_tiss VARCHAR(8) NOT NULL DEFAULT '4.01.00'"
DROP_OBSERVACAO = "ALTER TABLE faturamento DROP COLUMN observacao_auditoria"
OPS = {"insert": "c", "update": "u"}


def committed(db, statement: str) -> int:
    """Run ``statement`` in a transaction of its own; its txid_current() (with the epoch)."""
    with db.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(statement)
        cur.execute("SELECT txid_current()")
        txid = cur.fetchone()[0]
        cur.execute("COMMIT")
    return int(txid)


class History:
    """The ledger and the change events of what a test commits (the events as Debezium sends them)."""

    def __init__(self, db, tmp_path) -> None:
        self.db, self.dir = db, tmp_path
        self.ledger: list[dict] = []
        self.events: list[str] = []

    def change(self, statement: str, op: str, pk: int) -> None:
        txid = committed(self.db, statement)
        self.ledger.append({"table": "faturamento", "op": op, "pk": pk, "txid": txid})
        cur = self.db.cursor()
        cur.execute("SELECT to_jsonb(f) FROM faturamento f WHERE id = %s", (pk,))
        after = cur.fetchone()[0]
        source = {"table": "faturamento", "schema": "public", "txId": xid32(txid), "lsn": len(self.events) + 1}
        self.events.append(json.dumps({"before": None, "after": after, "op": OPS[op], "ts_ms": 1, "source": source}))

    def ddl(self, statement: str, step: str, kind: str, column: str, **detail: object) -> None:
        txid = committed(self.db, statement)
        self.ledger.append({"table": "faturamento", "op": "ddl", "pk": 0, "txid": txid, "step": step, "ddl": kind,
                            "column": column, **detail, "statement": statement})  # fmt: skip

    def verify(self, config) -> tuple[int, str]:
        (self.dir / "ledger.jsonl").write_text("".join(json.dumps(e) + "\n" for e in self.ledger))
        (self.dir / "events.jsonl").write_text("\n".join(self.events) + "\n")
        out = io.StringIO()
        code = run_verify(
            config, str(self.dir / "events.jsonl"), ledger_path=self.dir / "ledger.jsonl", strict=True, out=out
        )
        return code, out.getvalue()


def test_rows_last_seen_before_an_add_column_are_compared_with_its_default(make_config, db, tmp_path):
    db.cursor().execute(
        "CREATE TABLE faturamento (id BIGINT PRIMARY KEY, status TEXT NOT NULL, senha_autorizacao VARCHAR(12))"
    )
    history = History(db, tmp_path)
    history.change("INSERT INTO faturamento VALUES (1, 'aberta', 'A1B2C3D4E5F6')", "insert", 1)
    history.change("INSERT INTO faturamento VALUES (2, 'aberta', NULL)", "insert", 2)
    history.ddl(ADD_OBSERVACAO, "add_observacao", "add_column", "observacao_auditoria", default=None)
    history.change("INSERT INTO faturamento (id, status) VALUES (3, 'aberta')", "insert", 3)
    history.ddl(ADD_VERSAO, "add_versao_tiss", "add_column", "versao_tiss", default="4.01.00")
    history.change("UPDATE faturamento SET status = 'glosada', observacao_auditoria = 'nota' WHERE id = 2", "update", 2)
    config = make_config()

    code, text = history.verify(config)
    assert code == 0, text
    # row 1: observacao_auditoria (NULL) and versao_tiss; row 3: versao_tiss. Row 2's events carry both.
    assert "3 value(s) of columns added while streaming compared with the schema change's default" in text
    assert "final state: 3 rows checked against the live tables, 0 differ" in text

    db.cursor().execute(
        "UPDATE faturamento SET versao_tiss = '4.02.00', observacao_auditoria = 'sem evento' WHERE id = 1"
    )
    code, text = history.verify(config)
    assert code == 1, text
    assert "differs: faturamento id=1 versao_tiss: table='4.02.00' events='4.01.00'" in text
    assert "differs: faturamento id=1 observacao_auditoria: table='sem evento' events='None'" in text

    # Dropped: the live rows have no observacao_auditoria, so neither row 1's changed value nor row 2's
    # value in the events is compared.
    db.cursor().execute("UPDATE faturamento SET versao_tiss = '4.01.00' WHERE id = 1")
    history.ddl(DROP_OBSERVACAO, "drop_observacao", "drop_column", "observacao_auditoria")
    code, text = history.verify(config)
    assert code == 0, text
    assert "2 value(s) of columns added while streaming compared with the schema change's default" in text
