"""How an event's statement text becomes a prepared statement: one $n per placeholder occurrence,
each typed as psycopg2's literal for its value would be, its value written in text form."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from daemon.pg.params import Parameterised, literal_type, statement_name, text_value


def test_each_placeholder_occurrence_gets_its_own_number():
    parsed = Parameterised("SELECT %(a)s, %(b)s WHERE x = %(a)s AND y LIKE 'z%%'")
    assert parsed.text == "SELECT $1, $2 WHERE x = $3 AND y LIKE 'z%'"
    assert parsed.names == ["a", "b", "a"]
    assert Parameterised("SELECT 1").names == []


def test_inlined_writes_psycopg2s_literals_where_the_placeholders_were():
    parsed = Parameterised("SELECT %(a)s, %(b)s WHERE y LIKE 'z%%' AND x = %(a)s")
    assert (
        parsed.inlined(["it's", [1, None], "it's"]) == "SELECT 'it''s', ARRAY[1,NULL] WHERE y LIKE 'z%' AND x = 'it''s'"
    )


def test_the_name_depends_on_the_text_and_the_types_only():
    a, b = Parameterised("SELECT %(a)s"), Parameterised("SELECT %(b)s")
    assert statement_name(a, ("integer",)) == statement_name(b, ("integer",))  # same $1 text
    assert statement_name(a, ("integer",)) != statement_name(a, ("bigint",))
    assert statement_name(a, ("integer",)).startswith("hsim_") and len(statement_name(a, ("integer",))) <= 63


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
        float("nan"): "float8",  # psycopg2: 'NaN'::float
        float("-inf"): "float8",
        Decimal("1.5"): "numeric",
        datetime.datetime(2026, 1, 2, 3, 4, tzinfo=tz): "timestamptz",
        datetime.datetime(2026, 1, 2, 3, 4): "timestamp",
        datetime.date(2026, 1, 2): "date",
        datetime.timedelta(days=1): "interval",
    }
    for value, expected in cases.items():
        assert literal_type(value) == expected, value
    assert literal_type(["a", None]) == "text[]"
    for unhandled in ([1, 2], [], {"a": 1}, b"x"):
        assert literal_type(unhandled) is None


def test_text_values():
    assert text_value(None) is None
    assert text_value(True) == b"t" and text_value(False) == b"f"
    assert text_value(float("nan")) == b"NaN" and text_value(float("-inf")) == b"-Infinity"
    assert text_value(datetime.timedelta(days=2, seconds=3, microseconds=5)) == b"2 days 3.000005 seconds"
    assert text_value(['a "b"', "c\\d", None]) == b'{"a \\"b\\"","c\\\\d",NULL}'
    assert text_value(Decimal("1.50")) == b"1.50"


def test_a_value_no_driver_can_write_is_a_value_error():
    with pytest.raises(ValueError, match="can't adapt"):
        Parameterised("SELECT %(a)s").inlined([object()])
