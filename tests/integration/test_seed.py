from __future__ import annotations

import pytest
from loguru import logger

from daemon.catalogue import default_volumes
from daemon.errors import StopRequested
from daemon.pg import connection, schema
from daemon.seed import loader
from daemon.seed import progress as progress_module
from daemon.signals import StopSignal
from tests.support.checkdigits import valid_cnpj, valid_cpf
from tests.support.db import query


def bootstrap_and_seed(config, **kwargs):
    conn = connection.connect(config.pg)
    try:
        schema.bootstrap(conn)
        return loader.seed_if_empty(conn, config.seed, **kwargs)
    finally:
        conn.close()


def counts(db) -> dict[str, int]:
    return {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in schema.TABLES}


def test_default_volumes(make_config, db):
    loaded = bootstrap_and_seed(make_config())
    expected = default_volumes()  # the predecessor's volumes (test_config pins the numbers)
    assert counts(db) == expected
    assert loaded == {**expected, "convenios": 10}  # the two lookups were there already


def test_seeded_rows_are_valid(make_config, db):
    bootstrap_and_seed(make_config())
    assert all(valid_cpf(c) for (c,) in query(db, "SELECT cpf FROM pacientes"))
    assert all(valid_cnpj(c) for (c,) in query(db, "SELECT cnpj FROM convenios"))
    assert query(db, "SELECT count(*) FROM medicos WHERE crm !~ '^[0-9]{6}-[A-Z]{2}$'")[0][0] == 0
    status = dict(query(db, "SELECT status, count(*) FROM consultas GROUP BY status"))
    assert status["agendada"] / 4000 == pytest.approx(0.55, abs=0.03)
    assert status["realizada"] / 4000 == pytest.approx(0.35, abs=0.03)
    discharged = query(db, "SELECT avg((data_saida IS NOT NULL)::int) FROM internacoes")[0][0]
    assert float(discharged) == pytest.approx(0.70, abs=0.04)
    assert query(db, "SELECT count(*) FROM pacientes WHERE nascimento > current_date")[0][0] == 0
    assert query(db, "SELECT count(*) FROM consultas WHERE status = 'agendada' AND data < now()")[0][0] == 0
    assert query(db, "SELECT count(*) FROM consultas WHERE status = 'realizada' AND data > now()")[0][0] == 0
    # sequences continue after the explicit ids
    assert (
        query(db, "INSERT INTO medicos (nome, crm, especialidade) VALUES ('X', '000001-ZZ', 'Y') RETURNING id")[0][0]
        == 201
    )


def test_same_random_seed_gives_identical_data(make_config, cluster, db):
    from tests.support.db import admin_connect

    bootstrap_and_seed(make_config(RANDOM_SEED="77"))
    other = "t_seed_twin"
    admin = admin_connect(cluster)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {other}")
        cur.execute(f"CREATE DATABASE {other} TEMPLATE template0")
    try:
        bootstrap_and_seed(make_config(RANDOM_SEED="77", PG_DATABASE=other))
        twin = admin_connect(cluster, other)
        for table in schema.TABLES:
            sql = f"SELECT * FROM {table} ORDER BY id"
            strip = lambda rows: [r[:-2] for r in rows]  # noqa: E731 - drop created_at/updated_at
            assert strip(query(db, sql)) == strip(query(twin, sql)), table
        twin.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {other} WITH (FORCE)")
        admin.close()


def test_seeds_only_once(make_config, db):
    config = make_config()
    assert bootstrap_and_seed(config) is not None
    assert bootstrap_and_seed(config) is None
    assert counts(db)["pacientes"] == 2000


def test_partial_database_is_not_seeded(make_config, db, capfd, bootstrap):
    config = make_config()
    bootstrap(config)
    query(db, "INSERT INTO medicos (nome, crm, especialidade) VALUES ('Ana', '123456-SP', 'Pediatria') RETURNING id")
    assert bootstrap_and_seed(config) is None
    assert counts(db)["pacientes"] == 0 and counts(db)["medicos"] == 1


def test_stop_during_seed_leaves_nothing(make_config, db):
    stop = StopSignal()
    stop.set()
    with pytest.raises(StopRequested):
        bootstrap_and_seed(make_config(), stop=stop)
    assert sum(counts(db).values()) == 2  # only the lookups from bootstrap


def test_scale_and_small_batches(make_config, db):
    bootstrap_and_seed(make_config(SEED_SCALE="0.1", BATCH_SIZE="7"))
    c = counts(db)
    assert c["pacientes"] == 200 and c["consultas"] == 400 and c["pacientes_convenios"] == 250
    assert c["convenios"] == 2  # round(12 * 0.1) = 1, but the two lookups always exist


def test_fk_targets_exist(make_config, db):
    bootstrap_and_seed(make_config(SEED_SCALE="0.2"))
    orphans = query(
        db,
        """
        SELECT (SELECT count(*) FROM consultas c LEFT JOIN pacientes p ON p.id = c.paciente_id WHERE p.id IS NULL)
             + (SELECT count(*) FROM pacientes_convenios pc LEFT JOIN convenios c ON c.id = pc.convenio_id
                WHERE c.id IS NULL)""",
    )[0][0]
    assert orphans == 0


def schema_checks(db) -> tuple[list, list]:
    """Foreign keys and indexes of the seven tables, with their definitions."""
    fks = query(
        db,
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' ORDER BY 1, 2",
    )
    indexes = query(db, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    return fks, indexes


def test_large_seed_rebuilds_foreign_keys_and_indexes(make_config, db, monkeypatch, bootstrap):
    config = make_config()
    bootstrap(config)
    before = schema_checks(db)
    monkeypatch.setattr(loader, "DEFER_MIN_ROWS", 0)  # the path of seeds >= 100k rows, at the default volume
    logs = []
    handler = logger.add(lambda m: logs.append(m.record["extra"]), level="INFO")
    try:
        bootstrap_and_seed(config)
    finally:
        logger.remove(handler)
    assert schema_checks(db) == before and len(before[0]) == 6
    assert counts(db)["consultas"] == 4000
    checks = [e for e in logs if e.get("event") == "seed.checks" and "seconds" in e]
    assert checks and checks[0]["indexes"] >= 9 and checks[0]["foreign_keys"] == 6
    # the rebuilt foreign keys are enforced
    with pytest.raises(Exception, match="foreign key"):
        query(db, "INSERT INTO consultas (paciente_id, medico_id, data, motivo) VALUES (99999, 1, now(), 'x')")


def test_stop_midway_through_a_large_seed_leaves_the_schema_intact(make_config, db, monkeypatch, bootstrap):
    config = make_config(BATCH_SIZE="500")
    bootstrap(config)
    before = schema_checks(db)
    monkeypatch.setattr(loader, "DEFER_MIN_ROWS", 0)
    stop = StopSignal()
    advance = loader.Progress.advance

    def stop_inside_consultas(self, rows):
        advance(self, rows)
        if self.name == "consultas" and self.rows >= 1500:
            stop.set()  # SIGTERM while the consultas COPY is streaming

    monkeypatch.setattr(loader.Progress, "advance", stop_inside_consultas)
    with pytest.raises(StopRequested):
        bootstrap_and_seed(config, stop=stop)
    assert sum(counts(db).values()) == 2
    assert schema_checks(db) == before


def test_bootstrap_and_seed_are_not_bounded_by_the_event_statement_timeout(make_config, db):
    # A 1 ms statement_timeout would cancel any COPY (or a wait for another replica's seed);
    # bootstrap and seed lift it for their own transactions.
    bootstrap_and_seed(make_config(PG_STATEMENT_TIMEOUT_MS="1", SEED_SCALE="0.5"))
    assert counts(db)["consultas"] == 2000


def test_seed_keeps_checks_when_it_may_not_alter_the_tables(make_config, db, monkeypatch, cluster, bootstrap):
    config = make_config()
    bootstrap(config)
    query(db, "DROP ROLE IF EXISTS seed_loader; CREATE ROLE seed_loader LOGIN; SELECT 1")
    query(
        db,
        "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO seed_loader; "
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO seed_loader; SELECT 1",
    )
    monkeypatch.setattr(loader, "DEFER_MIN_ROWS", 0)
    seed_loader = make_config(PG_USER="seed_loader")
    conn = connection.connect(seed_loader.pg)
    logs = []
    handler = logger.add(lambda m: logs.append(m.record["extra"]), level="INFO")
    try:
        assert loader.seed_if_empty(conn, seed_loader.seed) is not None
    finally:
        logger.remove(handler)
        conn.close()
    assert any(e.get("event") == "seed.checks_kept" for e in logs)
    assert counts(db)["exames"] == 3500
    assert len(schema_checks(db)[0]) == 6


def test_progress_lines(make_config, db, monkeypatch):
    monkeypatch.setattr(progress_module, "PROGRESS_SECONDS", 0.0)
    logs = []
    handler = logger.add(lambda m: logs.append(m.record["extra"]), level="INFO")
    try:
        bootstrap_and_seed(make_config(BATCH_SIZE="1000"))
    finally:
        logger.remove(handler)
    progress = [e for e in logs if e.get("event") == "seed.progress"]
    assert {e["table"] for e in progress} >= {"pacientes", "consultas", "exames"}
    for e in progress:
        assert 0 < e["rows"] < e["total"] and e["rate"] > 0 and e["eta_seconds"] >= 0
    assert [e["table"] for e in logs if e.get("event") == "seed.table"] == list(loader.LOAD_ORDER)
    assert [e["rows"] for e in logs if e.get("event") == "seed.done"] == [13410]
