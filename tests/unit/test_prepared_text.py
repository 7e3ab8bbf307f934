"""How an event's statement text becomes a prepared statement: one $n per placeholder occurrence,
each typed as psycopg2's literal for its value would be."""

from __future__ import annotations

import datetime
from decimal import Decimal

from daemon.stream.prepared import Parameterised, literal_type


def test_each_placeholder_occurrence_gets_its_own_number():
    parsed = Parameterised("SELECT %(a)s, %(b)s WHERE x = %(a)s AND y LIKE 'z%%'")
    assert parsed.text == "SELECT $1, $2 WHERE x = $3 AND y LIKE 'z%'"
    assert parsed.names == ["a", "b", "a"]
    assert parsed.execute_sql.format("p") == "EXECUTE p (%s, %s, %s)"
    assert Parameterised("SELECT 1").execute_sql.format("p") == "EXECUTE p"


def test_texts_psycopg2_would_read_otherwise_are_left_alone():
    assert not Parameterised("SELECT $1").ok
    assert not Parameterised("SELECT %s").ok


def test_literal_types_follow_psycopg2s_literals():
    tz = datetime.UTC
    cases = {
        None: "unknown",
        "texto": "unknown",
        True: "boolean",
        7: "integer",
        2**31: "bigint",
        -(2**31) + 1: "integer",
        2**63: "numeric",
        0.25: "numeric",
        Decimal("1.5"): "numeric",
        datetime.datetime(2026, 1, 2, 3, 4, tzinfo=tz): "timestamptz",
        datetime.datetime(2026, 1, 2, 3, 4): "timestamp",
        datetime.date(2026, 1, 2): "date",
        datetime.timedelta(days=1): "interval",
    }
    for value, expected in cases.items():
        assert literal_type(value) == expected, value
    for unhandled in (float("nan"), float("inf"), [1, 2], {"a": 1}, b"x"):
        assert literal_type(unhandled) is None
