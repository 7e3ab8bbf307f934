from __future__ import annotations

import pytest

from daemon import database, schema, seed
from daemon.errors import StopRequested
from daemon.signals import StopSignal
from tests.conftest import query
from tests.test_brazil import valid_cnpj, valid_cpf


def bootstrap_and_seed(config, **kwargs):
    conn = database.connect(config.pg)
    try:
        schema.bootstrap(conn)
        return seed.seed_if_empty(conn, config.seed, **kwargs)
    finally:
        conn.close()


def counts(db) -> dict[str, int]:
    return {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in schema.TABLES}


def test_default_volumes(make_config, db):
    loaded = bootstrap_and_seed(make_config())
    expected = {
        "pacientes": 2000,
        "medicos": 200,
        "convenios": 12,
        "pacientes_convenios": 2500,
        "consultas": 4000,
        "exames": 3500,
        "internacoes": 1200,
    }
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
    from tests.conftest import admin_connect

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


def test_partial_database_is_not_seeded(make_config, db, capfd):
    config = make_config()
    conn = database.connect(config.pg)
    schema.bootstrap(conn)
    conn.close()
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
