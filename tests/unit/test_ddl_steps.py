"""The schema-change sequence (STREAM_DDL_EVERY_SECONDS): its statements come from sql/ddl_steps.sql
and agree with what the stream expects of them; the step due follows from the catalogue's shape
alone (restart-safe at every point); the variable needs SCHEMA_EXTRAS=faturamento."""

from __future__ import annotations

import random

import pytest

from daemon.config import load_config
from daemon.data import auditoria
from daemon.data.guias import Guias
from daemon.errors import ConfigError
from daemon.stream.ddl import STEPS, next_step, statements
from daemon.stream.kinds.shape import EM_RECURSO, OBSERVACAO, SENHA, SENHA_WIDTH, VERSAO_DEFAULT, VERSAO_TISS, Shape
from daemon.stream.mix import EventMix

BASE = frozenset({"id", "status", SENHA, "valor_total"})
LABELS = ("aberta", "faturada", "glosada", "paga")


def shape(*added: str, width: int = SENHA_WIDTH[0], label: bool = False) -> Shape:
    labels = ("aberta", "faturada", "glosada", EM_RECURSO, "paga") if label else LABELS
    return Shape(BASE | set(added), {SENHA: width}, labels)


def test_every_step_has_one_statement_that_matches_what_it_records():
    text = statements()
    assert list(text) == [step.name for step in STEPS]
    assert all(";" not in sql and sql.startswith("ALTER ") for sql in text.values())
    by_name = {step.name: step for step in STEPS}
    assert f"ADD COLUMN IF NOT EXISTS {OBSERVACAO} TEXT" in text["add_observacao"]
    assert f"DEFAULT '{VERSAO_DEFAULT}'" in text["add_versao_tiss"] and VERSAO_TISS in text["add_versao_tiss"]
    assert f"{SENHA} TYPE VARCHAR({SENHA_WIDTH[1]})" in text["widen_senha"]
    assert f"ADD VALUE IF NOT EXISTS '{EM_RECURSO}'" in text["add_em_recurso"]
    assert f"DROP COLUMN IF EXISTS {OBSERVACAO}" in text["drop_observacao"]
    detail = dict(by_name["widen_senha"].detail())
    assert detail == {
        "step": "widen_senha",
        "ddl": "alter_type",
        "column": SENHA,
        "old_width": SENHA_WIDTH[0],
        "width": SENHA_WIDTH[1],
        "statement": text["widen_senha"],
    }
    assert dict(by_name["add_versao_tiss"].detail())["default"] == VERSAO_DEFAULT


@pytest.mark.parametrize(
    ("current", "due"),
    [
        (shape(), "add_observacao"),
        (shape(OBSERVACAO), "add_versao_tiss"),
        (shape(OBSERVACAO, VERSAO_TISS), "widen_senha"),
        (shape(OBSERVACAO, VERSAO_TISS, width=SENHA_WIDTH[1]), "add_em_recurso"),
        (shape(OBSERVACAO, VERSAO_TISS, width=SENHA_WIDTH[1], label=True), "drop_observacao"),
        (shape(VERSAO_TISS, width=SENHA_WIDTH[1], label=True), None),
        # a step made out of order (by hand, say) is not made again; the others still are
        (shape(OBSERVACAO, label=True), "add_versao_tiss"),
        (shape(VERSAO_TISS), "widen_senha"),  # observacao gone after versao_tiss: the drop happened
    ],
)
def test_the_step_due_is_read_from_the_shape(current, due):
    step = next_step(current)
    assert (step.name if step else None) == due


def test_schema_changes_need_the_faturamento_table(monkeypatch):
    monkeypatch.setenv("STREAM_DDL_EVERY_SECONDS", "5")
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert "unless SCHEMA_EXTRAS includes faturamento" in info.value.problems["STREAM_DDL_EVERY_SECONDS"]
    monkeypatch.setenv("SCHEMA_EXTRAS", "fila_triagem,faturamento")
    assert load_config(dotenv=None).stream.ddl_every_seconds == 5.0
    monkeypatch.setenv("STREAM_DDL_EVERY_SECONDS", "-1")
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert "STREAM_DDL_EVERY_SECONDS" in info.value.problems


def test_the_appeal_is_drawn_only_while_schema_changes_run(monkeypatch):
    monkeypatch.setenv("SCHEMA_EXTRAS", "faturamento")
    names = {kind.name for kind, _ in EventMix(load_config(dotenv=None).stream).weighted}
    assert "guia_abertura" in names and "guia_recurso" not in names
    monkeypatch.setenv("STREAM_DDL_EVERY_SECONDS", "30")
    assert "guia_recurso" in {kind.name for kind, _ in EventMix(load_config(dotenv=None).stream).weighted}


def test_what_the_stream_writes_into_the_changed_columns():
    rng = random.Random(7)
    notes = [auditoria.nota_glosa(rng) for _ in range(50)]
    assert all(n[0] == "[" and n[5] == "]" and n.endswith(")") for n in notes) and len(set(notes)) > 20
    assert all(auditoria.recurso(rng).startswith("Recurso de glosa: ") for _ in range(5))
    guias = Guias(rng)
    codes = [guias.senha_longa() for _ in range(200)]
    assert all(SENHA_WIDTH[0] < len(c) <= SENHA_WIDTH[1] and c[:2].isalpha() and c[2:].isdigit() for c in codes)
    versions = [guias.versao_tiss() for _ in range(500)]
    assert set(versions) == {"4.01.00", "4.02.00"} and versions.count("4.02.00") > 300
