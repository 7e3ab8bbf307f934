"""Events go through a pipelined session: statements prepared once per session (a protocol-level
Parse), then Bind/Execute per event; several messages in flight, each its own transaction."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import psycopg2.extensions
import pytest
from loguru import logger

from daemon.pg import pipeline
from daemon.pg.pipeline import MAX_STALE, Pipeline
from daemon.stream.flights import PIPELINE_DEPTH, EventFailed
from daemon.stream.kinds.base import EventKind, Statement
from tests.support.db import query

PREPARED = "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements WHERE name LIKE 'hsim_%'"


def prepared_in_session(writer) -> dict[str, int]:
    """The writer's session's prepared statements and how often each ran."""
    return dict(writer.session().query(PREPARED))


def test_values_mean_what_psycopg2s_literals_meant(make_config):
    """Each value, bound as a typed text parameter, equals psycopg2's literal and has its type."""
    values = [
        7,
        2**40,
        2**70,
        0.1,
        float("nan"),
        float("inf"),
        Decimal("12.50"),
        Decimal("NaN"),
        True,
        datetime.date(2026, 3, 1),
        datetime.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 1, 12, 30, 15, 5),
        datetime.timedelta(days=3, seconds=7, microseconds=9),
        ["a", 'b "c"', "d\\e", None, "{x,y}"],
    ]
    session = Pipeline(pipeline.connect(make_config().pg, "test"))
    try:
        for value in values:
            literal = psycopg2.extensions.adapt(value).getquoted().decode()
            session.send(
                [f"SELECT (%(v)s) IS NOT DISTINCT FROM {literal}, pg_typeof(%(v)s)::text, pg_typeof({literal})::text"],
                {"v": value},
            )
        for value, reply in zip(values, [session.receive() for _ in values], strict=True):
            assert reply.error is None, (value, reply.error)
            same, bound_type, literal_type = reply.rows[0]
            assert same == "t" and bound_type == literal_type, (value, reply.rows)
    finally:
        session.close()


def test_messages_in_flight_are_separate_transactions(make_config, db):
    """An error rolls back its own message only; the next one, already sent, still commits."""
    with db.cursor() as cur:
        cur.execute("CREATE TABLE pipe_t (v INT PRIMARY KEY)")
    session = Pipeline(pipeline.connect(make_config().pg, "test"))
    try:
        insert = "INSERT INTO pipe_t VALUES (%(v)s) RETURNING v"
        session.send([insert, insert], {"v": 1})  # one message, two statements: the second fails
        session.send([insert], {"v": 2})
        session.send([insert], {"v": 2})
        session.send([insert], {"v": 3})
        assert session.in_flight == 4
        replies = [session.receive() for _ in range(4)]
    finally:
        session.close()
    assert [r.sqlstate for r in replies] == ["23505", "", "23505", ""]
    assert [r.rows for r in replies if r.error is None] == [[("2",)], [("3",)]]
    assert [v for (v,) in query(db, "SELECT v FROM pipe_t ORDER BY v")] == [2, 3]


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_every_event_of_the_default_mix_runs_prepared(make_config, make_streamer, db):
    streamer = make_streamer(make_config())
    writer = streamer.writers[0]
    committed = streamer.run_events(600)
    ran = prepared_in_session(writer)
    assert ran and set(ran) == set(writer.session().prepared)  # every text the mix sent was prepared
    # Every event ran its prepared statement(s): the single statements once each, an episode's
    # statements each once (deliberate rollbacks ran too, and "nothing to do" draws as well).
    assert sum(ran.values()) >= committed
    assert len(streamer.stats.kinds) >= len(streamer.mix.kind_shares()) - 1  # (a small seed: troca_convenio is rare)
    failures = {k: n for k, n in streamer.stats.failures.items() if k not in ("deliberate_rollback", "nothing_to_do")}
    assert failures == {}
    # one row per slot of the writer's pipeline, each holding the last event sent through it
    slots = query(db, "SELECT writer, seq FROM hospital_sim_writers WHERE writer LIKE %s", (writer.key + ".%",))
    assert len(slots) == PIPELINE_DEPTH and all(writer.slot(seq) == key for key, seq in slots)


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
            writer.session().query("DEALLOCATE ALL")  # what DISCARD ALL (a pooler) does to the session
            assert prepared_in_session(writer) == {}
            assert streamer.run_events(50) == 50  # the events that found their statement gone were sent again
            # Prepared again, until it happened MAX_STALE times: then each use is parsed with it.
            assert bool(prepared_in_session(writer)) == (round_ < MAX_STALE)
    finally:
        logger.remove(handler)
    assert not writer.session().prepare
    assert [w["event"] for w in warnings if w.get("event", "").startswith("stream.prepared")] == ["stream.prepared_off"]
    assert sum(streamer.stats.failures.values()) == 0
    assert query(db, rows)[0][0] == before + 50 * (MAX_STALE + 1)  # no event sent again ran twice


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_a_statement_whose_parameters_the_server_cannot_type_runs_inlined(make_config, make_streamer, db):
    streamer = make_streamer(make_config())
    writer = streamer.writers[0]
    # "$2 IS NOT NULL" gives the server no type for $2 (a literal 'x' is fine): the Parse says no.
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
        assert writer.apply(kind) is not None
    assert query(db, "SELECT count(*) FROM exames")[0][0] == before + 3
    assert prepared_in_session(writer) == {}  # refused once, then sent with its values inlined


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_a_cancelled_parse_is_the_events_failure_and_the_next_event_prepares_it(make_config, make_streamer, db):
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="insert=1", STREAM_INSERT_WEIGHTS="exames=1"))
    writer = streamer.writers[0]
    kind = next(k for k, _ in streamer.mix.kind_shares())
    writer.session().query("SET statement_timeout = 300")
    db.autocommit = False
    try:
        with db.cursor() as cur:
            cur.execute("LOCK TABLE exames IN ACCESS EXCLUSIVE MODE")  # the Parse (parse analysis) waits on it
        with pytest.raises(EventFailed) as failed:
            writer.apply(kind)
    finally:
        db.rollback()
        db.autocommit = True
    assert failed.value.kind == "canceled"
    assert writer.session().prepared == frozenset()  # the failed Parse created nothing
    assert writer.apply(kind) is not None
    assert len(prepared_in_session(writer)) == 1


def test_a_message_larger_than_the_socket_buffers_goes_out_whole(make_config):
    """The session is non-blocking: what the socket cannot take at once is pushed while waiting."""
    session = Pipeline(pipeline.connect(make_config().pg, "test"))
    big = "x" * (24 << 20)
    rows: list = []

    def exchange() -> None:
        for n in range(2):
            session.send(["SELECT length(%(v)s) + %(n)s"], {"v": big, "n": n})
        rows.extend(session.receive().rows for _ in range(2))

    worker = threading.Thread(target=exchange, daemon=True)  # a stuck message would wait for ever
    worker.start()
    worker.join(60)
    session.cancel()
    session.close()
    assert rows == [[(str(len(big)),)], [(str(len(big) + 1),)]]


def test_a_parse_skipped_after_an_earlier_failure_is_sent_again_and_not_counted_lost(make_config, db):
    """A message's Parse after its failing statement is skipped by the server; a message already
    in flight that relied on it fails with 26000: sent again, not a loss of prepared statements."""
    with db.cursor() as cur:
        cur.execute("CREATE TABLE pipe_p (v INT PRIMARY KEY)")
        cur.execute("INSERT INTO pipe_p VALUES (1)")
    session = Pipeline(pipeline.connect(make_config().pg, "test"))
    insert, select = "INSERT INTO pipe_p VALUES (%(v)s)", "SELECT count(*) + %(v)s FROM pipe_p"
    try:
        session.send([insert, select], {"v": 1})  # the INSERT fails: the SELECT's Parse is skipped
        session.send([select], {"v": 1})  # sent before that is known: it executes the name only
        first, second = session.receive(), session.receive()
        assert first.sqlstate == "23505" and not first.resend
        assert second.sqlstate == "26000" and second.resend and not second.stale
        assert len(session.prepared) == 1  # the INSERT's; the SELECT's Parse never ran
        session.send([select], {"v": 1})  # sent again: the Parse goes with it
        assert session.receive().rows == [("2",)]
        assert len(session.prepared) == 2
    finally:
        session.close()


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_a_statement_the_server_refuses_to_parse_fails_once_and_naming_goes_on(make_config, make_streamer, db):
    """0A000 at Parse is what the text says (FOR UPDATE with an aggregate), not a statement lost:
    the event fails, without being sent again and without giving up prepared statements."""
    streamer = make_streamer(make_config())
    writer = streamer.writers[0]
    refused = Statement("exames", "update", "SELECT count(*) FROM exames WHERE id > %(p)s FOR UPDATE", {"p": 0})
    kind = EventKind("refused", "exames", "update", (), lambda ctx: refused)
    seq = writer.seq
    with pytest.raises(EventFailed) as failed:
        writer.apply(kind)
    assert failed.value.kind == "database" and writer.seq == seq + 1  # sent once
    session = writer.session()
    assert session.prepare and session.prepared == frozenset()
    assert streamer.run_events(20) == 20 and len(prepared_in_session(writer)) >= 1


@pytest.mark.seeded(SEED_SCALE="0.05")
def test_an_event_that_cannot_be_sent_leaves_no_gap_in_the_writer_sequence(make_config, make_streamer, db):
    """Events in flight must be consecutive (each has its own row of the writer's): an event
    refused before it went out gives its sequence number back."""
    streamer = make_streamer(make_config(STREAM_OP_WEIGHTS="insert=1"))
    writer = streamer.writers[0]
    unsendable = Statement("exames", "insert", "SELECT %(v)s", {"v": object()})
    kind = EventKind("unsendable", "exames", "insert", (), lambda ctx: unsendable)
    assert streamer.run_events(5) == 5
    seq = writer.seq
    with pytest.raises(EventFailed):
        writer.apply(kind)
    assert writer.seq == seq and writer.in_flight == 0
    assert streamer.run_events(5) == 5 and writer.seq == seq + 5
