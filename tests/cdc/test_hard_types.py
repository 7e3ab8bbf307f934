"""faturamento's hard types through the real connector, under every decimal.handling.mode and
time.precision.mode (and interval/binary handling): `verify --strict` passes with exactly the
known losses Debezium's code implies, and fails on a tampered value.

One slot is made before anything is written; each connector configuration decodes its own copy
of it (``pg_copy_logical_replication_slot``: same start, nothing consumed), so a matrix costs one
run of traffic and N short decodes. The first test writes every edge by hand once; the second is
the acceptance: 30 s of the daemon's traffic with SCHEMA_EXTRAS=faturamento (the seven tables and
the guia kinds; the edges written by hand meanwhile, which the guia kinds may settle in turn)
under 3 decimal × 4 time modes, the expected losses counted by SQL over the rows the events carry."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path

import pytest

from daemon.cdc.debezium import parse_line
from daemon.cdc.ledger import Change, Ledger
from daemon.cdc.verify import run_verify
from tests.support.db import admin_connect, query
from tests.support.debezium_engine import (
    DEFAULT_TABLES,
    capture_for,
    create_publication,
    create_slot,
    drain,
    drop_slot,
)
from tests.support.proc import daemon_process

PUBLICATION = "hsim_hard_types"
# NaN, ±Infinity and 20-digit NUMERIC; MONEY at both ends of its range; intervals with years,
# months, negative days and a microsecond; DATE ±infinity; TIMETZ at +14, -12, -03:30 and UTC;
# empty, nested and non-ASCII JSONB; empty arrays, NULL and empty elements; empty BYTEA.
EDGE_ROWS = """
INSERT INTO faturamento (tipo_guia, internacao_id, convenio_id, status, valor_total, valor_glosado, fator_reajuste,
    coparticipacao, tempo_atendimento, validade_inicio, validade_fim, hora_autorizacao, itens, codigos_tuss,
    hash_xml, urgencia)
SELECT 'internacao', (SELECT min(id) FROM internacoes), (SELECT min(id) FROM convenios),
       s::status_guia, v, g, f::numeric, m::money, i::interval, d1::date, d2::date, t::timetz, j::jsonb, a::text[], h, u
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
CONFIGS = MATRIX = [
    (decimal, time, "string" if (d + t) % 3 == 0 else "numeric", ("bytes", "base64", "hex")[(d + t) % 3])
    for d, decimal in enumerate(("precise", "double", "string"))
    for t, time in enumerate(("adaptive", "adaptive_time_microseconds", "connect", "isostring"))
]


def copy_slot(conn, source: str, name: str) -> None:
    """A new slot ``name`` at ``source``'s position (whose changes are still unconsumed)."""
    query(conn, "SELECT slot_name FROM pg_copy_logical_replication_slot(%s, %s)", (source, name))


def known_losses(report: str) -> set[str]:
    return {line.strip().removeprefix("known loss: ") for line in report.splitlines() if "known loss:" in line}


def write_edges(conn, ledger: Ledger | None = None) -> list[int]:
    """EDGE_ROWS and an update of the second, in one transaction (recorded in ``ledger``); their ids."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(EDGE_ROWS)
        ids = [r[0] for r in cur.fetchall()]
        cur.execute("UPDATE faturamento SET status = 'paga' WHERE id = %s", (ids[1],))
        cur.execute("SELECT txid_current()")
        txid = cur.fetchone()[0]
        cur.execute("COMMIT")
    for pk, op in [*((pk, "insert") for pk in ids), (ids[1], "update")]:
        if ledger is not None:
            ledger.record(Change("faturamento", op, pk, txid))
    return ids


def tamper(lines: list[str], column: str, change, pk: int) -> list[str]:
    """The dump with one faturamento value changed (in the last event of row ``pk``)."""
    docs = [json.loads(line) for line in lines]
    index = max(
        i
        for i, d in enumerate(docs)
        if d and d["payload"]["source"]["table"] == "faturamento" and (d["payload"]["after"] or {}).get("id") == pk
    )
    after = docs[index]["payload"]["after"]
    after[column] = change(after[column])
    return [json.dumps(d) for d in docs]


def _other_hour(v):  # ZonedTime "17:30:15.123456Z" -> "18:30:15.123456Z"
    return "12:00:00Z" if v is None else f"{(int(v[:2]) + 1) % 24:02d}{v[2:]}"


def _other_interval(v):  # a microsecond more, or a day more in ISO form
    if isinstance(v, int):
        return v + 1
    return "P0Y0M1DT0H0M0S" if v is None else re.sub(r"(-?\d+)D", lambda m: f"{int(m[1]) + 1}D", v)


def _other_amount(v):
    if isinstance(v, float):
        return v + 0.01
    return "AA==" if v != "AA==" else "AQ=="  # 0 or 0.01 (precise), not a number at all (string)


TAMPERS = (  # one value of one edge row changed: a mismatch, also in columns with known losses
    ("numero_guia", lambda v: ("e" if v[0] == "f" else "f") + v[1:]),
    ("validade_fim", lambda v: v + 1 if isinstance(v, int) else "1999-01-01Z" if v != "1999-01-01Z" else "1999-01-02Z"),
    ("hora_autorizacao", _other_hour),  # e.g. the wall time labelled UTC
    ("tempo_atendimento", _other_interval),
    ("coparticipacao", _other_amount),
)


def decode(db, config, source: str, slot: str, workdir: Path, modes: tuple, tables: tuple[str, ...]) -> list[str]:
    """The dump (JSON lines, schemas enabled) of a copy of ``source`` decoded under ``modes``."""
    decimal, time_precision, interval, binary = modes
    workdir.mkdir()
    copy_slot(db, source, slot)
    properties = {
        "decimal.handling.mode": decimal,
        "time.precision.mode": time_precision,
        "interval.handling.mode": interval,
        "binary.handling.mode": binary,
        "value.converter.schemas.enable": "true",
        "table.include.list": ",".join(tables),
    }
    try:
        with capture_for(config, slot, PUBLICATION, workdir, **properties) as capture:
            records = drain(db, capture, timeout=120)
    finally:
        drop_slot(db, slot)
    return [r.value or "null" for r in records]


def verify(config, lines: list[str], dump: Path, ledgers: list[Path]) -> tuple[int, str]:
    dump.write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    code = run_verify(config, str(dump), ledger_path=ledgers or None, live=True, strict=True, out=out)
    return code, out.getvalue()


def assert_tampering_fails(config, lines: list[str], dump: Path, ledgers: list[Path], pk: int) -> None:
    for column, change in TAMPERS:
        code, report = verify(config, tamper(lines, column, change, pk), dump, ledgers)
        assert code == 1, (column, report)
        assert f"faturamento id={pk} {column}:" in report, report


@pytest.mark.seeded(SEED_SCALE="0.02", SCHEMA_EXTRAS="faturamento")
def test_hard_types_in_every_mode_known_losses_exact_and_tampering_fails(make_config, db, tmp_path: Path) -> None:
    config = make_config()
    create_publication(db, PUBLICATION, ("public.faturamento",))
    source = f"hard_{config.pg.database}"
    create_slot(db, source)
    ids = write_edges(db)
    for i, modes in enumerate(CONFIGS):
        lines = decode(db, config, source, f"{source}_{i}", tmp_path / str(i), modes, ("public.faturamento",))
        assert len(lines) == 6
        code, report = verify(config, lines, tmp_path / f"{i}.jsonl", [])
        assert code == 0, report
        decimal, time_precision, interval, _ = modes
        expected = (
            LOSSES_DECIMAL[decimal] | losses_time(time_precision) | ({MONTHS} if interval == "numeric" else set())
        )
        assert known_losses(report) == expected, report
        assert "5 rows checked against the live tables, 0 differ" in report
        assert_tampering_fails(config, lines, tmp_path / f"{i}.jsonl", [], ids[0])
        # Without schemas the values still compare; the losses are the same, their settings as far
        # as the values tell (a sentinel day: not isostring; TIMETZ: any mode).
        bare = [json.dumps(json.loads(line)["payload"]) for line in lines]
        code, bare_report = verify(config, bare, tmp_path / f"{i}-bare.jsonl", [])
        assert code == 0, bare_report
        assert {loss.split(" under ")[0] for loss in known_losses(bare_report)} == {
            loss.split(" under ")[0] for loss in expected
        }, bare_report
        if i == 0:  # --json carries the same losses
            out, dump = io.StringIO(), tmp_path / "json.jsonl"
            dump.write_text("\n".join(lines) + "\n")
            assert run_verify(config, str(dump), live=True, strict=True, as_json=True, out=out) == 0
            losses = json.loads(out.getvalue())["final_state"]["known_losses"]
            assert {f"{d['table']}.{d['column']} {d['what']} under {d['setting']}" for d in losses} == {
                loss.rsplit(" (", 1)[0] for loss in expected
            }
    drop_slot(db, source)


# What Debezium loses of a value, per setting (daemon/cdc/verify_types.py cites the code), as SQL
# over the rows the events carry: (column, what, setting or None for time.precision.mode, condition).
LOSS_RULES = [
    *(
        (column, "rounded to a double's 15-17 digits", "decimal.handling.mode=double",
         f"{column}::numeric NOT IN ('NaN', 'Infinity', '-Infinity') "
         f"AND {column}::numeric::float8::text::numeric <> {column}::numeric")
        for column in ("valor_total", "valor_glosado", "fator_reajuste", "coparticipacao")
    ),
    ("fator_reajuste", "NaN arrives as null", "decimal.handling.mode=precise", "fator_reajuste = 'NaN'"),
    ("fator_reajuste", "Infinity arrives as null", "decimal.handling.mode=precise", "fator_reajuste = 'Infinity'"),
    ("fator_reajuste", "-Infinity arrives as null", "decimal.handling.mode=precise", "fator_reajuste = '-Infinity'"),
    *(
        (column, what, None, f"{column} = '{value}'")
        for column in ("validade_inicio", "validade_fim")
        for value, what in (("infinity", "INF"), ("-infinity", "-INF"))
    ),
    ("hora_autorizacao", "UTC offset dropped (ZonedTime in UTC)", None,
     "extract(timezone FROM hora_autorizacao) <> 0"),
    ("tempo_atendimento", "months as 30.4375 days", "interval.handling.mode=numeric",
     "extract(year FROM tempo_atendimento) * 12 + extract(month FROM tempo_atendimento) <> 0"),
]  # fmt: skip
SENTINEL_DAYS = {"INF": (-2147472692, "-5877611-06-21"), "-INF": (-2147472691, "-5877611-06-22")}


def expected_losses(db, ids: list[int], modes: tuple) -> set[str]:
    """The known-loss lines Debezium's behaviour implies for these rows under ``modes``."""
    decimal, time_precision, interval, _ = modes
    counts = query(
        db,
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {rule[3]})" for rule in LOSS_RULES)
        + " FROM faturamento WHERE id = ANY(%s)",
        (ids,),
    )[0]  # fmt: skip
    lines = set()
    for (column, what, setting, _), count in zip(LOSS_RULES, counts):
        if what in SENTINEL_DAYS:
            day, iso = SENTINEL_DAYS[what]
            sign = "'infinity'" if what == "INF" else "'-infinity'"
            what = (
                f"{sign} arrives as {iso}" if time_precision == "isostring" else f"{sign} arrives as day {day} ({iso})"
            )
        if setting is None:
            setting = f"time.precision.mode={TIME_SETTING[time_precision]}"
        applies = setting in (f"decimal.handling.mode={decimal}", f"interval.handling.mode={interval}") or (
            setting.startswith("time.")
        )
        if count and applies:
            lines.add(f"faturamento.{column} {what} under {setting} ({count} value{'s' if count > 1 else ''})")
    return lines


@pytest.mark.seeded(SEED_SCALE="0.05", SCHEMA_EXTRAS="faturamento")
def test_thirty_seconds_of_traffic_verify_strictly_in_a_matrix_of_modes(
    make_config, pg_env, cluster, database, db, tmp_path: Path
) -> None:
    config = make_config()
    tables = (*DEFAULT_TABLES, "public.faturamento")
    create_publication(db, PUBLICATION, tables)
    source = f"hard_{config.pg.database}"
    create_slot(db, source)  # before the traffic: every copy decodes all of it

    daemon_ledger, edges_ledger = tmp_path / "ledger.jsonl", tmp_path / "edges.jsonl"
    env = {**pg_env, "SEED_SCALE": "0.05", "SCHEMA_EXTRAS": "faturamento", "LEDGER_FILE": str(daemon_ledger),
           "STREAM_INTERVAL_SECONDS": "0.05", "MAX_JITTER_MS": "0"}  # fmt: skip
    stop = threading.Event()
    edge_ids: list[int] = []

    def edges() -> None:  # faturamento's edges by hand, while the daemon writes
        conn = admin_connect(cluster, database)
        ledger = Ledger(edges_ledger)
        try:
            while not stop.wait(3.0):
                edge_ids.extend(write_edges(conn, ledger))
        finally:
            ledger.close()
            conn.close()

    started = time.monotonic()
    with daemon_process(env, "stream", ready="Iniciando stream") as daemon:
        writer = threading.Thread(target=edges, daemon=True)
        writer.start()
        time.sleep(30)
        stop.set()
        writer.join(30)
        code, _ = daemon.terminate()
    assert code == 0, daemon.output[-3000:]
    traffic = time.monotonic() - started
    assert len(edge_ids) >= 5 * 8

    decoded = time.monotonic()
    for i, modes in enumerate(MATRIX):
        lines = decode(db, config, source, f"{source}_{i}", tmp_path / str(i), modes, tables)
        events = [parse_line(line, n) for n, line in enumerate(lines, 1)]
        ids = sorted({e.pk for e in events if e is not None and e.table == "faturamento"})
        assert set(edge_ids) <= set(ids)
        dump = tmp_path / f"{i}.jsonl"
        code, report = verify(config, lines, dump, [daemon_ledger, edges_ledger])
        assert code == 0, report
        assert "RESULT: OK (0 missing, 0 duplicated, 0 unexpected, 0 partial transactions)" in report
        assert known_losses(report) == expected_losses(db, ids, modes), (modes, report)
        if i % 4 == 0:  # a tampered value fails, once per decimal mode
            assert_tampering_fails(config, lines, dump, [daemon_ledger, edges_ledger], edge_ids[0])
    drop_slot(db, source)
    print(f"traffic {traffic:.1f}s, {len(MATRIX)} decodes {time.monotonic() - decoded:.1f}s")
