"""Smoke test: the real Debezium PostgreSQL connector captures the daemon's schema, and resumes from offsets."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.db import query
from tests.support.debezium_engine import (
    DebeziumCapture,
    capture_for,
    create_publication,
    create_slot,
    drain,
    drop_slot,
    parse,
    parse_key,
)

PUBLICATION = "hsim_cdc"


@dataclass
class Cdc:
    """The test database prepared for CDC, and a factory of captures sharing one slot and offsets file."""

    db: Any
    capture: Callable[[], DebeziumCapture]


@pytest.fixture
def cdc(make_config, bootstrap, db, tmp_path: Path) -> Iterator[Cdc]:
    """Daemon schema + publication + slot; stops the captures and drops the slot before the database goes."""
    config = make_config()
    bootstrap(config)
    create_publication(db, PUBLICATION)
    slot = f"dbz_{config.pg.database}"  # slots are cluster-wide: one per test database
    create_slot(db, slot)
    captures: list[DebeziumCapture] = []

    def make() -> DebeziumCapture:
        capture = capture_for(config, slot, PUBLICATION, tmp_path)
        captures.append(capture)
        return capture

    try:
        yield Cdc(db, make)
    finally:
        for capture in captures:
            capture.stop(raise_errors=False)
        drop_slot(db, slot)  # a slot on the database would make DROP DATABASE fail


def one(db, sql: str, params: tuple = ()) -> Any:
    return query(db, sql, params)[0][0]


def lsn(record) -> int:
    return parse(record).lsn


def test_debezium_captures_changes_and_resumes_from_offsets(cdc: Cdc) -> None:
    db = cdc.db
    big = secrets.token_hex(4096)  # 8 kB that pglz cannot shrink enough: stored out of line (TOAST)

    first = cdc.capture().start()
    ana = one(
        db, "INSERT INTO pacientes (nome, nascimento, cpf) VALUES ('Ana', '1980-01-02', '111.111.111-11') RETURNING id"
    )
    exame = one(
        db,
        "INSERT INTO exames (paciente_id, tipo_exame, data, resultado) "
        "VALUES (%s, 'Hemograma', now(), 'pendente') RETURNING id",
        (ana,),
    )
    query(db, "UPDATE exames SET resultado = %s WHERE id = %s RETURNING id", (big, exame))
    assert one(db, "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'exames'::regclass") > 0
    query(db, "UPDATE exames SET tipo_exame = 'Hemograma completo' WHERE id = %s RETURNING id", (exame,))
    query(db, "DELETE FROM exames WHERE id = %s RETURNING id", (exame,))
    run1 = first.wait_for(6, timeout=30)
    first.stop()
    assert first.events() == run1, "no events beyond the expected ones"

    changes = [parse(r) for r in run1]
    assert [(c.table, c.op) for c in changes] == [
        ("pacientes", "insert"),
        ("exames", "insert"),
        ("exames", "update"),
        ("exames", "update"),
        ("exames", "delete"),
        ("exames", "tombstone"),
    ]
    assert [parse_key(r) for r in run1] == [{"id": ana}] + [{"id": exame}] * 5
    assert all(r.destination == f"hsim.public.{c.table}" for r, c in zip(run1, changes, strict=True))
    insert_p, insert_e, set_big, retype, delete, _ = changes
    assert insert_p.before is None and insert_p.after["nome"] == "Ana" and insert_p.after["cpf"] == "111.111.111-11"
    assert insert_e.after["resultado"] == "pendente"
    # REPLICA IDENTITY FULL: complete before-images; the TOASTed value in full, even when unchanged
    assert set_big.before["resultado"] == "pendente" and set_big.before["tipo_exame"] == "Hemograma"
    assert set_big.after["resultado"] == big
    assert retype.before["resultado"] == big and retype.after["resultado"] == big
    assert (retype.before["tipo_exame"], retype.after["tipo_exame"]) == ("Hemograma", "Hemograma completo")
    assert delete.after is None and delete.before["resultado"] == big and delete.before["paciente_id"] == ana

    # engine stopped: these must all arrive after the restart, once
    bruno = one(
        db,
        "INSERT INTO pacientes (nome, nascimento, cpf) VALUES ('Bruno', '1990-03-04', '222.222.222-22') RETURNING id",
    )
    query(
        db,
        "UPDATE pacientes SET telefone = '(11) 99999-0000' WHERE id = %s;"
        "INSERT INTO medicos (nome, crm, especialidade) VALUES ('Dra. Carla', '123456/SP', 'Cardiologia');"
        "DELETE FROM pacientes WHERE id = %s RETURNING id",
        (ana, bruno),
    )

    second = cdc.capture().start()
    query(
        db,
        "INSERT INTO convenios (nome, cnpj, tipo, cobertura) "
        "VALUES ('Vida', '12.345.678/0001-95', 'privado', 'regional') RETURNING id",
    )
    run2 = second.wait_for(6, timeout=30)
    assert drain(db, second) == run2  # duplicates or replays would arrive before the sentinel
    second.stop()

    changes = [parse(r) for r in run2]
    assert [(c.table, c.op) for c in changes] == [
        ("pacientes", "insert"),
        ("pacientes", "update"),
        ("medicos", "insert"),
        ("pacientes", "delete"),
        ("pacientes", "tombstone"),
        ("convenios", "insert"),
    ]
    assert changes[0].after["nome"] == "Bruno"
    assert changes[1].before["telefone"] is None and changes[1].after["telefone"] == "(11) 99999-0000"
    assert changes[2].after["crm"] == "123456/SP"
    assert changes[3].before["id"] == bruno and parse_key(run2[4]) == {"id": bruno}
    assert changes[5].after["nome"] == "Vida"
    assert min(lsn(r) for r in run2 if r.value) > max(lsn(r) for r in run1 if r.value)
