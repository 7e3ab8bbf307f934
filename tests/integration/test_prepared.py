"""Events run as server-side prepared statements: prepared once per session, executed per event;
prepared again when the session lost them; sent as text when the server will not prepare them."""

from __future__ import annotations

import pytest
from loguru import logger

from daemon.stream.kinds.base import EventKind, Statement
from daemon.stream.prepared import MAX_STALE
from daemon.stream.writer import EventFailed
from tests.support.db import query

PREPARED = "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements WHERE name LIKE 'hsim_%'"


def prepared_in_session(conn) -> dict[str, int]:
    """This session's prepared statements and how often each ran."""
    with conn.cursor() as cur:
        cur.execute(PREPARED)
        return dict(cur.fetchall())


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_every_event_of_the_default_mix_runs_prepared(make_config, make_streamer, db):
    streamer = make_streamer(make_config())
    writer = streamer.writers[0]
    committed = streamer.run_events(600)
    names = writer.prepared._names
    assert names and None not in names.values()  # every statement text the mix sent was prepared
    ran = prepared_in_session(writer.connection())
    assert set(ran) == set(names.values())
    # Every event ran its prepared statement(s): the single statements once each, an episode's
    # statements each once (deliberate rollbacks ran too, and "nothing to do" draws as well).
    assert sum(ran.values()) >= committed
    assert len(streamer.stats.kinds) >= len(streamer.mix.kind_shares()) - 1  # (a small seed: troca_convenio is rare)
    failures = {k: n for k, n in streamer.stats.failures.items() if k not in ("deliberate_rollback", "nothing_to_do")}
    assert failures == {}


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_statements_lost_by_the_session_are_prepared_again_then_given_up(make_config, make_streamer, db):
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="insert=1"))
    writer = streamer.writers[0]
    rows = (
        "SELECT sum(n) FROM ("
        + " UNION ALL ".join(
            f"SELECT count(*) AS n FROM {t}" for t in ("pacientes", "consultas", "exames", "internacoes")
        )
        + ") c"
    )
    before = query(db, rows)[0][0]
    assert streamer.run_events(50) == 50
    warnings: list[dict] = []
    handler = logger.add(lambda m: warnings.append(m.record["extra"]), level="WARNING")
    try:
        for round_ in range(1, MAX_STALE + 1):
            with writer.connection().cursor() as cur:
                cur.execute("DEALLOCATE ALL")  # what DISCARD ALL (a pooler) does to the session
            assert prepared_in_session(writer.connection()) == {}
            assert streamer.run_events(50) == 50  # the first event found its statement gone and was retried
            # Prepared again, until it happened MAX_STALE times: then events go as text.
            assert bool(prepared_in_session(writer.connection())) == (round_ < MAX_STALE)
    finally:
        logger.remove(handler)
    assert not writer.prepared.enabled
    assert [w["event"] for w in warnings if w.get("event", "").startswith("stream.prepared")] == ["stream.prepared_off"]
    assert sum(streamer.stats.failures.values()) == 0
    assert query(db, rows)[0][0] == before + 50 * (MAX_STALE + 1)  # no retried event ran twice


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_a_statement_the_server_will_not_prepare_runs_as_text(make_config, make_streamer, db):
    streamer = make_streamer(make_config())
    writer = streamer.writers[0]
    # "$2 IS NOT NULL" gives the server no type for $2 (a literal 'x' is fine): PREPARE says no.
    statement = Statement(
        "exames",
        "insert",
        "INSERT INTO exames (paciente_id, tipo_exame, data) SELECT %(p)s, 'PCR', now() "
        "WHERE %(x)s IS NOT NULL RETURNING id",
        {"p": streamer.ids.pick("pacientes", writer.rng), "x": "x"},
    )
    kind = EventKind("odd", "exames", "insert", (), lambda ctx: statement)
    before = query(db, "SELECT count(*) FROM exames")[0][0]
    for _ in range(3):
        applied = writer.apply(kind)
        assert applied is not None
    assert query(db, "SELECT count(*) FROM exames")[0][0] == before + 3
    assert list(writer.prepared._names.values()) == [None]  # tried once, then sent as text
    assert prepared_in_session(writer.connection()) == {}


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_a_cancelled_prepare_is_the_events_failure_not_a_reason_to_send_text(make_config, make_streamer, db):
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="insert=1", STREAM_INSERT_WEIGHTS="exames=1"))
    writer = streamer.writers[0]
    kind = next(k for k, _ in streamer.mix.kind_shares())
    with writer.connection().cursor() as cur:
        cur.execute("SET statement_timeout = 300")
    db.autocommit = False
    try:
        with db.cursor() as cur:
            cur.execute("LOCK TABLE exames IN ACCESS EXCLUSIVE MODE")  # PREPARE (parse analysis) waits on it
        with pytest.raises(EventFailed) as failed:
            writer.apply(kind)
    finally:
        db.rollback()
        db.autocommit = True
    assert failed.value.kind == "canceled"
    assert writer.prepared._names == {}  # not marked "send as text": the next event prepares it
    assert writer.apply(kind) is not None
    assert list(writer.prepared._names.values()) != [None] and len(prepared_in_session(writer.connection())) == 1
