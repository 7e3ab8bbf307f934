from __future__ import annotations

import threading

from daemon.bootstrap import bootstrap_database
from daemon.pg import connection, schema
from daemon.pg.tables import EXTRAS, INDEXES, WRITERS_TABLE
from tests.support.db import query


def test_bootstrap_creates_the_schema(make_config, db, bootstrap):
    config = make_config()
    bootstrap(config)
    tables = {r[0] for r in query(db, "SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert tables == set(schema.TABLES) | {WRITERS_TABLE}
    indexes = {r[0] for r in query(db, "SELECT indexname FROM pg_indexes WHERE schemaname='public'")}
    assert set(INDEXES) <= indexes
    triggers = query(db, "SELECT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal")
    assert sorted(t for (t,) in triggers) == sorted(schema.TABLES)
    assert sorted(r[0] for r in query(db, "SELECT nome FROM convenios")) == ["SUS", "SaudePlus"]
    fks = query(db, "SELECT confupdtype, confdeltype FROM pg_constraint WHERE contype = 'f'")
    assert len(fks) == 6 and set(fks) == {("c", "r")}
    for table in schema.TABLES:
        cols = {
            r[0] for r in query(db, "SELECT column_name FROM information_schema.columns WHERE table_name=%s", (table,))
        }
        assert {"id", "created_at", "updated_at"} <= cols
        seq = query(db, "SELECT pg_get_serial_sequence(%s, 'id')", (table,))[0][0]
        assert seq is not None  # BIGSERIAL
        assert (
            query(
                db,
                "SELECT data_type FROM information_schema.columns WHERE table_name=%s AND column_name='id'",
                (table,),
            )[0][0]
            == "bigint"
        )


def test_bootstrap_twice_is_a_no_op(make_config, db, pg_connect):
    config = make_config()
    conn = pg_connect(config)
    schema.bootstrap(conn)
    before = query(db, "SELECT id, nome, cnpj, updated_at FROM convenios ORDER BY id")
    schema.bootstrap(conn)
    assert query(db, "SELECT id, nome, cnpj, updated_at FROM convenios ORDER BY id") == before


def test_bootstrap_replaces_the_retention_indexes_of_an_older_database(make_config, db, pg_connect):
    """Databases bootstrapped before the retention floors have single-column indexes on the time;
    the bootstrap replaces them with (time, id), which the oldest-first picks' floors need."""
    conn = pg_connect(make_config())
    schema.bootstrap(conn)
    query(
        db,
        "DROP INDEX idx_consultas_cancelamento, idx_exames_assinatura; "
        "CREATE INDEX idx_consultas_canceladas ON consultas (updated_at) WHERE status = 'cancelada'; "
        "CREATE INDEX idx_exames_assinados ON exames (laudo_assinado_em) WHERE laudo_assinado_em IS NOT NULL; "
        "SELECT 1",
    )
    schema.bootstrap(conn)
    got = dict(query(db, "SELECT indexname, indexdef FROM pg_indexes WHERE indexname ~ 'cancel|assin'"))
    assert "idx_consultas_canceladas" not in got and "idx_exames_assinados" not in got
    assert "(updated_at, id) WHERE ((status)::text = 'cancelada'" in got["idx_consultas_cancelamento"]
    assert "(laudo_assinado_em, id) WHERE (laudo_assinado_em IS NOT NULL)" in got["idx_exames_assinatura"]


def test_concurrent_bootstraps(make_config, db):
    config = make_config()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def boot() -> None:
        try:
            conn = connection.connect(config.pg)
            barrier.wait()
            schema.bootstrap(conn)
            conn.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=boot) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert query(db, "SELECT count(*) FROM convenios")[0][0] == 2


def test_constraints_and_updated_at_trigger(make_config, db, bootstrap):
    import psycopg2.errors
    import pytest

    config = make_config()
    bootstrap(config)
    query(
        db, "INSERT INTO pacientes (nome, nascimento, cpf) VALUES ('Zé', '1990-01-01', '529.982.247-25') RETURNING id"
    )
    with pytest.raises(psycopg2.errors.UniqueViolation):
        query(db, "INSERT INTO pacientes (nome, nascimento, cpf) VALUES ('Zé 2', '1990-01-01', '529.982.247-25')")
    with pytest.raises(psycopg2.errors.CheckViolation):
        query(db, "INSERT INTO consultas (paciente_id, medico_id, data, motivo, status) VALUES (1, 1, now(), 'x', 'x')")
    with pytest.raises(psycopg2.errors.CheckViolation):
        query(
            db,
            "INSERT INTO internacoes (paciente_id, data_entrada, data_saida, motivo, quarto) "
            "VALUES (1, now(), now() - interval '1 day', 'x', '101-A')",
        )
    created, updated = query(db, "SELECT created_at, updated_at FROM pacientes")[0]
    query(db, "UPDATE pacientes SET telefone = '(11) 91234-5678' RETURNING id")
    assert query(db, "SELECT updated_at FROM pacientes")[0][0] > updated
    # ON UPDATE CASCADE / ON DELETE RESTRICT
    query(db, "INSERT INTO exames (paciente_id, tipo_exame, data) VALUES (1, 'PCR', now()) RETURNING id")
    query(db, "UPDATE pacientes SET id = 42 WHERE id = 1 RETURNING id")
    assert query(db, "SELECT paciente_id FROM exames")[0][0] == 42
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        query(db, "DELETE FROM pacientes WHERE id = 42")


def test_schema_extras_are_created_published_and_dropped(make_config, db, pg_connect):
    config = make_config(
        SCHEMA_EXTRAS="sinais_vitais, faturamento,fila_triagem",
        CDC_PUBLICATION="extras_pub",
        CDC_REPLICA_IDENTITY="full",
    )
    assert config.schema.extras == config.stream.extras == ("faturamento", "fila_triagem", "sinais_vitais")
    conn = pg_connect(config)
    bootstrap_database(conn, config.cdc, config.schema.extras)
    bootstrap_database(conn, config.cdc, config.schema.extras)  # idempotent
    kinds = dict(query(db, "SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)", (list(EXTRAS),)))
    assert kinds == {"faturamento": "r", "fila_triagem": "r", "sinais_vitais": "p"}
    labels = [r[0] for r in query(db, "SELECT unnest(enum_range(NULL::status_guia))::text")]
    assert labels == ["aberta", "faturada", "glosada", "paga"]
    members = "SELECT prrelid::regclass::text FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid"
    published = {r[0] for r in query(db, members + " WHERE pubname = 'extras_pub'")}
    assert published == set(schema.TABLES) | set(EXTRAS)  # a partitioned table is a member with no partitions
    identity = dict(query(db, "SELECT relname, relreplident FROM pg_class WHERE relname = ANY(%s)", (list(EXTRAS),)))
    assert identity == dict.fromkeys(EXTRAS, "f")
    schema.drop(conn)
    assert query(db, "SELECT count(*) FROM pg_class WHERE relname = ANY(%s)", (list(EXTRAS),)) == [(0,)]
    assert query(db, "SELECT count(*) FROM pg_type WHERE typname = 'status_guia'") == [(0,)]


def test_without_extras_the_seven_tables_stay_alone(make_config, db, bootstrap):
    bootstrap(make_config(CDC_PUBLICATION="plain_pub"))
    assert query(db, "SELECT count(*) FROM pg_class WHERE relname = ANY(%s)", (list(EXTRAS),)) == [(0,)]
    published = {r[0] for r in query(db, "SELECT tablename FROM pg_publication_tables WHERE pubname = 'plain_pub'")}
    assert published == set(schema.TABLES)
