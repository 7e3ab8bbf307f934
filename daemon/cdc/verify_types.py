"""Hard types in `verify`: reading them from PostgreSQL exactly, and telling a known loss from a mismatch.

A value some connector setting cannot carry is a *known loss*, reported as
``known loss: <table>.<column> <what> under <setting>=<value>`` and never failing ``--strict``;
any other difference is a mismatch. The rules follow Debezium's own code (3.x):

- ``NaN`` / ``±Infinity`` in NUMERIC arrive as null under ``decimal.handling.mode=precise``:
  ``SpecialValueDecimal.fromLogical`` throws for them outside double/string mode and
  ``TableSchemaBuilder`` nulls the value (``event.converting.failure.handling.mode=warn``, the
  default). Double mode sends ``Double.NaN`` (JSON ``"NaN"``), string mode ``"NAN"`` -- not losses.
- A NUMERIC or MONEY with more digits than a double holds is rounded under
  ``decimal.handling.mode=double`` (``BigDecimal.doubleValue()``; ``PostgresValueConverter.convertMoney``).
- DATE ``infinity`` / ``-infinity`` become ``PostgresValueConverter.POSITIVE_INFINITY_LOCAL_DATE``
  (-5877611-06-21, epoch day -2147472692) and ``NEGATIVE_INFINITY_LOCAL_DATE`` (-5877611-06-22,
  epoch day -2147472691) in ``connection/DateTimeFormat.java``: the day number in adaptive,
  adaptive_time_microseconds and connect mode, ``-5877611-06-21Z`` under isostring.
- TIMETZ is ``io.debezium.time.ZonedTime`` in every ``time.precision.mode``, shifted to UTC
  (``PostgresValueConverter.convertTimeWithZone``: ``withOffsetSameInstant(ZoneOffset.UTC)``): the
  offset is lost.
- INTERVAL under ``interval.handling.mode=numeric`` is ``io.debezium.time.MicroDuration``, a month
  counted as ``DAYS_PER_MONTH_AVG`` = 30.4375 days (``MicroDuration.durationMicros``); string mode
  (``io.debezium.time.Interval``, ISO 8601) keeps months and days.

The setting a line names is read from the dump's field schemas (a dump with schemas enabled):
the column's own schema for decimals and intervals, every column's for ``time.precision.mode``.
adaptive and adaptive_time_microseconds render alike unless a TIME(0..3) column is published, so
then the line names both. Without schemas the event's value tells what it can.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple

import psycopg2.extensions

from daemon.cdc.debezium import ChangeEvent
from daemon.cdc.values import DAYS_PER_MONTH_AVG, Infinite, PgInterval

# Opt-in tables compared with the live rows besides the seven (their primary key is ``id``).
COMPARED_EXTRAS = ("faturamento",)

# Debezium's sentinels for DATE 'infinity' / '-infinity' (see the module docstring).
INFINITY_DAYS = {"infinity": (-2147472692, "-5877611-06-21"), "-infinity": (-2147472691, "-5877611-06-22")}
DECIMAL_SCHEMAS = ("org.apache.kafka.connect.data.Decimal", "io.debezium.data.VariableScaleDecimal")
CONNECT_TIME = {f"org.apache.kafka.connect.data.{n}" for n in ("Date", "Time", "Timestamp")}
ADAPTIVE_TIME = {f"io.debezium.time.{n}" for n in ("Date", "Timestamp", "MicroTimestamp", "NanoTimestamp", "MicroTime")}
BOTH_ADAPTIVE = "adaptive or adaptive_time_microseconds"
NOT_ISO = "adaptive, adaptive_time_microseconds or connect"

DATE_OID, INTERVAL_OID, MONEY_OID = 1082, 1186, 790
_UNIT = re.compile(r"([+-]?\d+) (year|mon|day)s?\b")
_CLOCK = re.compile(r"([+-]?)(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


class Loss(NamedTuple):
    table: str
    column: str
    what: str
    setting: str

    def line(self, count: int) -> str:
        values = "value" if count == 1 else "values"
        return f"known loss: {self.table}.{self.column} {self.what} under {self.setting} ({count} {values})"


# --------------------------------------------------------------------------- reading the live values
def _date(value: str | None, cur: Any) -> date | Infinite | None:
    if value in ("infinity", "-infinity"):
        return Infinite(value)
    return psycopg2.extensions.DATE(value, cur)  # type: ignore[no-any-return]


def parse_interval(text: str | None, cur: Any = None) -> PgInterval | None:
    """PostgreSQL's ``IntervalStyle=postgres`` text (``1 year 2 mons -3 days +04:05:06.789``)."""
    if text is None:
        return None
    units = {"year": 0, "mon": 0, "day": 0}
    for number, unit in _UNIT.findall(text):
        units[unit] = int(number)
    hours = minutes = micros = 0
    clock = _CLOCK.search(text)
    if clock:
        sign = -1 if clock.group(1) == "-" else 1
        hours, minutes = sign * int(clock.group(2)), sign * int(clock.group(3))
        micros = sign * (int(clock.group(4)) * 1_000_000 + int((clock.group(5) or "0").ljust(6, "0")))
    return PgInterval(units["year"], units["mon"], units["day"], hours, minutes, micros)


def _money(value: str | None, cur: Any) -> Decimal | None:
    # lc_monetary is C in verify's transaction: "-$92,233,720,368,547,758.08"
    return None if value is None else Decimal(re.sub(r"[^0-9.-]", "", value))


def prepare(cur: psycopg2.extensions.cursor) -> None:
    """Make ``cur`` read DATE infinity, INTERVAL and MONEY exactly (this transaction only)."""
    cur.execute("SET LOCAL lc_monetary = 'C'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL DateStyle = 'ISO'")
    casts: tuple[tuple[int, str, Any], ...] = (
        (DATE_OID, "HSIM_DATE", _date),
        (INTERVAL_OID, "HSIM_INTERVAL", parse_interval),
        (MONEY_OID, "HSIM_MONEY", _money),
    )
    for oid, name, cast in casts:
        psycopg2.extensions.register_type(psycopg2.extensions.new_type((oid,), name, cast), cur)


# --------------------------------------------------------------------------- the connector's modes
def time_mode(events: Iterable[ChangeEvent]) -> str | None:
    """``time.precision.mode`` as the dump's field schemas show it (None: no schema tells)."""
    names = {f.get("name") for e in events if e.fields for f in e.fields.values()}
    if any(str(n).startswith("io.debezium.time.Iso") for n in names):
        return "isostring"
    if names & CONNECT_TIME:
        return "connect"
    if "io.debezium.time.Time" in names:  # TIME(0..3) in milliseconds: adaptive only
        return "adaptive"
    return BOTH_ADAPTIVE if names & ADAPTIVE_TIME else None


def decimal_mode(field: dict | None) -> str | None:
    if not field:
        return None
    if field.get("name") in DECIMAL_SCHEMAS:
        return "precise"
    return {"double": "double", "float64": "double", "string": "string"}.get(str(field.get("type")))


# --------------------------------------------------------------------------- the rules
def _decimal_loss(live: Decimal, event: object, field: dict | None) -> tuple[str, str] | None:
    mode = decimal_mode(field)
    if not live.is_finite():
        special = "NaN" if live.is_nan() else str(live)
        if event is None and mode in (None, "precise"):
            return f"{special} arrives as null", "decimal.handling.mode=precise"
        return None
    if isinstance(event, float | int) and not isinstance(event, bool) and mode in (None, "double"):
        if math.isfinite(event) and math.isclose(float(live), float(event), rel_tol=1e-15, abs_tol=0.0):
            return "rounded to a double's 15-17 digits", "decimal.handling.mode=double"
    return None


def _infinity_loss(live: Infinite, event: object, mode: str | None) -> tuple[str, str] | None:
    day, iso = INFINITY_DAYS[str(live)]
    if isinstance(event, int) and not isinstance(event, bool) and event == day:
        setting = mode if mode not in (None, "isostring") else NOT_ISO
        return f"'{live}' arrives as day {day} ({iso})", f"time.precision.mode={setting}"
    if event in (iso, f"{iso}Z"):
        return f"'{live}' arrives as {iso}", "time.precision.mode=isostring"
    return None


def _timetz_loss(live: time, event: object, mode: str | None) -> tuple[str, str] | None:
    offset = live.utcoffset()
    if not offset or not isinstance(event, str) or not event.endswith("Z"):
        return None
    try:
        got = time.fromisoformat(event[:-1])
    except ValueError:
        return None
    utc = (datetime.combine(date(2000, 1, 1), live.replace(tzinfo=None)) - offset).time()
    if got != utc:
        return None
    return "UTC offset dropped (ZonedTime in UTC)", f"time.precision.mode={mode or 'any'}"


def known_loss(live: object, event: object, field: dict | None, time_precision: str | None) -> tuple[str, str] | None:
    """``(what, setting)`` when ``event`` is what Debezium makes of ``live`` under a lossy setting.

    Called for values :func:`daemon.cdc.values.same_value` found different; None: a mismatch.
    """
    if isinstance(live, Decimal):
        return _decimal_loss(live, event, field)
    if isinstance(live, Infinite):
        return _infinity_loss(live, event, time_precision)
    if isinstance(live, time) and live.tzinfo is not None:
        return _timetz_loss(live, event, time_precision)
    if isinstance(live, PgInterval) and live.total_months and isinstance(event, int) and not isinstance(event, bool):
        if event == live.micro_duration():
            return f"months as {DAYS_PER_MONTH_AVG} days", "interval.handling.mode=numeric"
    return None


def count_loss(losses: Counter[Loss], table: str, column: str, found: tuple[str, str]) -> None:
    losses[Loss(table, column, *found)] += 1
