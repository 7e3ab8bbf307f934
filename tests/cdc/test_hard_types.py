"""Every edge of faturamento's hard types through the real connector, under every
decimal.handling.mode and time.precision.mode (and interval/binary handling): `verify --strict`
passes with exactly the known losses Debezium's code implies, and fails on a tampered value.

One slot made before the rows are written; each connector configuration decodes its own copy
of it (``pg_copy_logical_replication_slot``: same start, nothing consumed), a couple of seconds
each, so the matrix costs one write and N short decodes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from daemon.cdc.verify import run_verify
from tests.support.db import query
from tests.support.debezium_engine import capture_for, create_publication, create_slot, drain, drop_slot

PUBLICATION = "hsim_hard_types"
# NaN, ±Infinity and 20-digit NUMERIC; MONEY at both ends of its range; intervals with years,
# months, negative days and a microsecond; DATE ±infinity; TIMETZ at +14, -12, -03:30 and UTC;
# empty, nested and non-ASCII JSONB; empty arrays, NULL and empty elements; empty BYTEA.
EDGE_ROWS = """
INSERT INTO faturamento (tipo_guia, consulta_id, convenio_id, status, valor_total, valor_glosado, fator_reajuste,
    coparticipacao, tempo_atendimento, validade_inicio, validade_fim, hora_autorizacao, itens, codigos_tuss,
    hash_xml, urgencia)
SELECT 'consulta', (SELECT min(id) FROM consultas), (SELECT min(id) FROM convenios), s::status_guia, v, g,
       f::numeric, m::money, i::interval, d1::date, d2::date, t::timetz, j::jsonb, a::text[], h, u
FROM (VALUES
 ('aberta', 1234.56, NULL, '1.0534', '45.90', '1 year 2 mons 3 days 04:05:06.789', '2024-01-01', '2026-12-31',
  '14:30:15.123456-03', '[{"codigo": "10101012", "valor": 150.0, "x": {"y": [1, 2, {"z": null}]}}]',
  '{10101012,40301010}', sha256('x'), true),
 ('aberta', 9999999999.99, 0.01, 'NaN', '-92233720368547758.08', '-3 days -04:00:00', '-infinity', 'infinity',
  '23:59:59.999999+14', '{}', '{}', NULL, false),
 ('glosada', -0.01, 12.30, '12345678901234567890.123456789', '92233720368547758.07', '1 mon -2 days 00:00:00.000001',
  '2000-02-29', '2000-03-01', '00:00:00-12', '[]', '{"a b","c,d","é"}', '\\x00ff'::bytea, false),
 ('faturada', 0, NULL, '-0.000000001', '0', '00:00:00', '1970-01-01', '1969-12-31', '23:00:00-03:30',
  '{"á": "ü\\n", "n": 1.0e2}', '{NULL,""}', '\\x'::bytea, true),
 ('paga', 1, NULL, 'Infinity', NULL, '-00:00:00.5', '2024-01-01', '2024-01-02', '12:34:56+00', '{"k": []}', '{x}',
  NULL, false)
) AS r(s, v, g, f, m, i, d1, d2, t, j, a, h, u)
RETURNING id
"""
LOSSES_DECIMAL = {
    "precise": {
        "faturamento.fator_reajuste NaN arrives as null under decimal.handling.mode=precise (1 value)",
        "faturamento.fator_reajuste Infinity arrives as null under decimal.handling.mode=precise (1 value)",
    },
    "double": {
        "faturamento.fator_reajuste rounded to a double's 15-17 digits under decimal.handling.mode=double (1 value)",
        "faturamento.coparticipacao rounded to a double's 15-17 digits under decimal.handling.mode=double (2 values)",
    },
    "string": set(),
}
TIME_SETTING = {  # what the dump's schemas say (adaptive_time_microseconds renders these tables as adaptive)
    "adaptive": "adaptive or adaptive_time_microseconds",
    "adaptive_time_microseconds": "adaptive or adaptive_time_microseconds",
    "connect": "connect",
    "isostring": "isostring",
}


def losses_time(mode: str) -> set[str]:
    setting = TIME_SETTING[mode]
    if mode == "isostring":
        days = {
            "infinity": "'infinity' arrives as -5877611-06-21",
            "-infinity": "'-infinity' arrives as -5877611-06-22",
        }
    else:
        days = {
            "infinity": "'infinity' arrives as day -2147472692 (-5877611-06-21)",
            "-infinity": "'-infinity' arrives as day -2147472691 (-5877611-06-22)",
        }
    return {
        f"faturamento.validade_fim {days['infinity']} under time.precision.mode={setting} (1 value)",
        f"faturamento.validade_inicio {days['-infinity']} under time.precision.mode={setting} (1 value)",
        f"faturamento.hora_autorizacao UTC offset dropped (ZonedTime in UTC) under time.precision.mode={setting} "
        "(4 values)",
    }


MONTHS = "faturamento.tempo_atendimento months as 30.4375 days under interval.handling.mode=numeric (2 values)"
# decimal × time, each with one interval/binary handling variant folded in
CONFIGS = [
    (decimal, time, "string" if (d + t) % 3 == 0 else "numeric", ("bytes", "base64", "hex")[(d + t) % 3])
    for d, decimal in enumerate(("precise", "double", "string"))
    for t, time in enumerate(("adaptive", "adaptive_time_microseconds", "connect", "isostring"))
]


def copy_slot(conn, source: str, name: str) -> None:
    """A new slot ``name`` at ``source``'s position (whose changes are still unconsumed)."""
    query(conn, "SELECT slot_name FROM pg_copy_logical_replication_slot(%s, %s)", (source, name))


def known_losses(report: str) -> set[str]:
    return {line.strip().removeprefix("known loss: ") for line in report.splitlines() if "known loss:" in line}


def tamper(lines: list[str], column: str, change) -> list[str]:
    """The dump with one faturamento value changed (the last event of the first row that has it)."""
    docs = [json.loads(line) for line in lines]
    index = max(i for i, d in enumerate(docs) if d["payload"]["after"]["id"] == 1)
    after = docs[index]["payload"]["after"]
    after[column] = change(after[column])
    return [json.dumps(d) for d in docs]


@pytest.mark.seeded(SEED_SCALE="0.02", SCHEMA_EXTRAS="faturamento")
def test_hard_types_in_every_mode_known_losses_exact_and_tampering_fails(make_config, db, tmp_path: Path) -> None:
    config = make_config()
    create_publication(db, PUBLICATION, ("public.faturamento",))
    source = f"hard_{config.pg.database}"
    slots = [f"{source}_{i}" for i in range(len(CONFIGS))]
    create_slot(db, source)
    ids = [r[0] for r in query(db, EDGE_ROWS)]
    query(db, "UPDATE faturamento SET status = 'paga' WHERE id = %s RETURNING id", (ids[1],))
    reports = {}
    for slot, (decimal, time, interval, binary) in zip(slots, CONFIGS):
        workdir = tmp_path / slot
        workdir.mkdir()
        copy_slot(db, source, slot)
        properties = {
            "decimal.handling.mode": decimal,
            "time.precision.mode": time,
            "interval.handling.mode": interval,
            "binary.handling.mode": binary,
            "value.converter.schemas.enable": "true",
            "table.include.list": "public.faturamento",
        }
        try:
            with capture_for(config, slot, PUBLICATION, workdir, **properties) as capture:
                records = drain(db, capture)
        finally:
            drop_slot(db, slot)
        assert len(records) == 6
        lines = [r.value or "null" for r in records]
        dump = tmp_path / f"{slot}.jsonl"
        dump.write_text("\n".join(lines) + "\n")
        out = io.StringIO()
        code = run_verify(config, str(dump), live=True, strict=True, out=out)
        reports[(decimal, time, interval, binary)] = out.getvalue()
        assert code == 0, out.getvalue()
        expected = LOSSES_DECIMAL[decimal] | losses_time(time) | ({MONTHS} if interval == "numeric" else set())
        assert known_losses(out.getvalue()) == expected, out.getvalue()
        assert "5 rows checked against the live tables, 0 differ" in out.getvalue()

        # A tampered value is a mismatch, also in a column with known losses.
        for column, change in (
            ("numero_guia", lambda v: v.replace(v[0], "f" if v[0] != "f" else "e", 1)),
            ("validade_fim", lambda v: v + 1 if isinstance(v, int) else v.replace("12-31", "12-30")),
            ("hora_autorizacao", lambda v: v.replace("17:30", "14:30")),  # the wall time, not the UTC one
            ("tempo_atendimento", lambda v: v + 1 if isinstance(v, int) else v.replace("3D", "4D")),
        ):
            dump.write_text("\n".join(tamper(lines, column, change)) + "\n")
            out = io.StringIO()
            assert run_verify(config, str(dump), live=True, strict=True, out=out) == 1, (column, out.getvalue())
            assert f"faturamento id={ids[0]} {column}:" in out.getvalue(), out.getvalue()
    drop_slot(db, source)
    assert len(reports) == 12
