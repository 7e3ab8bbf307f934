"""Hard types in verify: exact renderings of NaN, infinity dates, TIMETZ, INTERVAL and MONEY, and
the known-loss rules that tell Debezium's documented losses from a mismatch. The event values are
the ones the real connector produced for these rows (tests/cdc/test_hard_types.py runs it)."""

from __future__ import annotations

from datetime import UTC, date, time, timedelta, timezone
from decimal import Decimal

import pytest

from daemon.cdc.debezium import ChangeEvent
from daemon.cdc.values import Infinite, PgInterval, same_value
from daemon.cdc.verify_types import Loss, known_loss, parse_interval, time_mode

DOUBLE = {"type": "double"}
STRING = {"type": "string"}
VSD = {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal"}
BRT = timezone(timedelta(hours=-3))


@pytest.mark.parametrize(
    ("text", "interval", "micro_duration"),
    [
        ("1 year 2 mons 3 days 04:05:06.789", PgInterval(1, 2, 3, 4, 5, 6_789_000), 37091106789000),
        ("-3 days -04:00:00", PgInterval(0, 0, -3, -4, 0, 0), -273600000000),
        ("1 mon -2 days +00:00:00.000001", PgInterval(0, 1, -2, 0, 0, 1), 2457000000001),
        ("-00:00:00.5", PgInterval(0, 0, 0, 0, 0, -500_000), -500000),
        ("00:00:00", PgInterval(0, 0, 0, 0, 0, 0), 0),
        ("-1 years -2 mons", PgInterval(-1, -2, 0, 0, 0, 0), -36817200000000),
    ],
)
def test_intervals_parse_as_postgres_prints_them_and_convert_as_microduration(text, interval, micro_duration):
    assert parse_interval(text) == interval
    assert interval.micro_duration() == micro_duration


def test_interval_iso_strings_keep_months_and_days():
    interval = PgInterval(1, 2, 3, 4, 5, 6_789_000)
    assert same_value(interval, "P1Y2M3DT4H5M6.789S")
    assert same_value(PgInterval(0, 0, -3, -4, 0, 0), "P0Y0M-3DT-4H0M0S")
    assert not same_value(interval, "P1Y2M4DT4H5M6.789S")
    # Debezium renders the seconds field through a double (pgjdbc's getSeconds()), cut to 9 decimals
    assert same_value(PgInterval(0, 0, 0, 0, 0, 14_585_966), "P0Y0M0DT0H0M14.585965999S")
    assert same_value(PgInterval(0, 0, 0, 0, 0, -14_585_966), "P0Y0M0DT0H0M-14.585965999S")
    assert same_value(PgInterval(0, 0, 0, 0, 0, 14_585_966), "P0Y0M0DT0H0M14.585966S")
    assert not same_value(PgInterval(0, 0, 0, 0, 0, 14_585_966), "P0Y0M0DT0H0M14.585965S")  # a microsecond off
    assert not same_value(PgInterval(0, 0, 0, 0, 0, 14_585_965), "P0Y0M0DT0H0M14.585965999S")
    assert not same_value(PgInterval(0, 0, 0, 0, 0, 14_585_966), "P0Y0M0DT0H0M14.5859659991S")
    # numeric mode: exact without months; with months a known loss (30.4375-day months), else a mismatch
    assert same_value(PgInterval(0, 0, -3, -4, 0, 0), -273600000000)
    assert not same_value(interval, 37091106789000)
    assert known_loss(interval, 37091106789000, None, None) == (
        "months as 30.4375 days",
        "interval.handling.mode=numeric",
    )
    assert known_loss(interval, 37091106789001, None, None) is None


@pytest.mark.parametrize(
    ("live", "event", "field", "same", "loss"),
    [
        # NaN/Infinity: double mode's "NaN", string mode's "NAN"/"POSITIVE_INFINITY" are the value ...
        (Decimal("NaN"), "NaN", DOUBLE, True, None),
        (Decimal("NaN"), "NAN", STRING, True, None),
        (Decimal("Infinity"), "POSITIVE_INFINITY", STRING, True, None),
        (Decimal("-Infinity"), "-Infinity", DOUBLE, True, None),
        # ... precise mode nulls them: a known loss there, a mismatch where the mode could carry them
        (Decimal("NaN"), None, VSD, False, ("NaN arrives as null", "decimal.handling.mode=precise")),
        (Decimal("Infinity"), None, None, False, ("Infinity arrives as null", "decimal.handling.mode=precise")),
        (Decimal("NaN"), None, STRING, False, None),
        (Decimal("NaN"), "Infinity", DOUBLE, False, None),
        (Decimal("1.05"), None, VSD, False, None),
        # a double holds 15-17 digits: MONEY's and NUMERIC's extremes round, a changed value does not match
        (Decimal("45.90"), 45.9, DOUBLE, True, None),
        (Decimal("9999999999.99"), 9999999999.99, DOUBLE, True, None),
        (Decimal("-92233720368547758.08"), -9.223372036854776e16, DOUBLE, False,
         ("rounded to a double's 15-17 digits", "decimal.handling.mode=double")),
        (Decimal("12345678901234567890.123456789"), 1.2345678901234567e19, DOUBLE, False,
         ("rounded to a double's 15-17 digits", "decimal.handling.mode=double")),
        (Decimal("45.90"), 45.91, DOUBLE, False, None),
        # VariableScaleDecimal beyond 28 digits is decoded exactly
        (Decimal("12345678901234567890.123456789"), {"scale": 9, "value": "J+QbMka+ybFuOYEV"}, VSD, True, None),
    ],
)  # fmt: skip
def test_special_and_long_decimals(live, event, field, same, loss):
    assert same_value(live, event, field) is same
    if not same:
        assert known_loss(live, event, field, None) == loss


def test_infinity_dates_arrive_as_their_sentinel_days():
    inf, neg = Infinite("infinity"), Infinite("-infinity")
    assert not same_value(inf, -2147472692)
    assert known_loss(inf, -2147472692, None, "connect") == (
        "'infinity' arrives as day -2147472692 (-5877611-06-21)",
        "time.precision.mode=connect",
    )
    assert known_loss(neg, "-5877611-06-22Z", None, "isostring") == (
        "'-infinity' arrives as -5877611-06-22",
        "time.precision.mode=isostring",
    )
    assert known_loss(inf, -2147472691, None, None) is None  # the other infinity's sentinel
    assert known_loss(inf, 2932896, None, None) is None  # 9999-12-31 is a date, not infinity
    assert same_value(date(2000, 2, 29), "2000-02-29Z")  # isostring dates carry a Z


def test_timetz_arrives_in_utc():
    assert same_value(time(12, 34, 56, tzinfo=UTC), "12:34:56Z")
    live = time(14, 30, 15, 123456, tzinfo=BRT)
    assert not same_value(live, "17:30:15.123456Z")
    assert known_loss(live, "17:30:15.123456Z", None, "isostring") == (
        "UTC offset dropped (ZonedTime in UTC)",
        "time.precision.mode=isostring",
    )
    assert known_loss(time(23, 0, tzinfo=timezone(-timedelta(hours=3, minutes=30))), "02:30:00Z", None, None)
    assert known_loss(live, "14:30:15.123456Z", None, None) is None  # the wall time labelled UTC: wrong


def fields(*names: str) -> ChangeEvent:
    return ChangeEvent("t", "insert", 1, 1, 1, None, {}, 1, fields={n: {"name": n} for n in names})


def test_time_precision_mode_is_read_from_the_field_schemas():
    zoned = "io.debezium.time.ZonedTimestamp"
    assert time_mode([fields(zoned, "io.debezium.time.IsoDate")]) == "isostring"
    assert time_mode([fields(zoned), fields("org.apache.kafka.connect.data.Date")]) == "connect"
    assert time_mode([fields("io.debezium.time.Date", "io.debezium.time.Time")]) == "adaptive"
    assert time_mode([fields("io.debezium.time.Date")]) == "adaptive or adaptive_time_microseconds"
    assert time_mode([fields(zoned)]) is None
    assert time_mode([ChangeEvent("t", "insert", 1, 1, 1, None, {}, 1)]) is None


def test_a_loss_line_names_column_setting_and_count():
    loss = Loss("faturamento", "fator_reajuste", "NaN arrives as null", "decimal.handling.mode=precise")
    assert loss.line(3) == (
        "known loss: faturamento.fator_reajuste NaN arrives as null under decimal.handling.mode=precise (3 values)"
    )
