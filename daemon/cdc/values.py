"""Debezium's column values compared with PostgreSQL's, under every encoding the connector offers.

``time.precision.mode`` (adaptive, adaptive_time_microseconds, connect, isostring),
``decimal.handling.mode`` (precise, double, string), ``interval.handling.mode`` (numeric, string),
``binary.handling.mode`` and the unavailable-value placeholder of unchanged TOASTed columns. The
event's field schema (a dump with schemas enabled) decides the encoding; without it the live
value's Python type does, and integer timestamps are read in whichever unit (milli-, micro-,
nanoseconds) reproduces the value.
A value a mode cannot carry (NaN as null, an infinity date's sentinel, TIMETZ in UTC, a double's
rounding, months as 30.4375 days) is not equal here: :mod:`daemon.cdc.verify_types` tells a known
loss from a mismatch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from daemon.cdc.debezium import UNAVAILABLE

EPOCH = datetime(1970, 1, 1)
# logical type name -> integer ticks per second
TIMESTAMP_UNITS = {
    "io.debezium.time.Timestamp": 1_000,
    "org.apache.kafka.connect.data.Timestamp": 1_000,
    "io.debezium.time.MicroTimestamp": 1_000_000,
    "io.debezium.time.NanoTimestamp": 1_000_000_000,
}
TIME_UNITS = {
    "io.debezium.time.Time": 1_000,
    "org.apache.kafka.connect.data.Time": 1_000,
    "io.debezium.time.MicroTime": 1_000_000,
    "io.debezium.time.NanoTime": 1_000_000_000,
}
ANY_UNIT = (1_000_000, 1_000, 1_000_000_000)
# Debezium's renderings of NUMERIC's special values: double mode puts Double.NaN/±Infinity (JSON
# strings "NaN", "Infinity"), string mode SpecialValueDecimal.toString() ("NAN", "POSITIVE_INFINITY").
SPECIAL_DECIMALS = {
    "NaN": ("NaN", "NAN"),
    "Infinity": ("Infinity", "POSITIVE_INFINITY"),
    "-Infinity": ("-Infinity", "NEGATIVE_INFINITY"),
}
# io.debezium.time.MicroDuration.DAYS_PER_MONTH_AVG: a month of an INTERVAL is 365.25 / 12 days
DAYS_PER_MONTH_AVG = 365.25 / 12.0
_ISO_INTERVAL = re.compile(r"^P(-?\d+)Y(-?\d+)M(-?\d+)DT(-?\d+)H(-?\d+)M(-?[\d.]+)S$")


class Infinite(str):
    """A DATE read from PostgreSQL as ``infinity`` or ``-infinity`` (no Python date holds it)."""


@dataclass(frozen=True)
class PgInterval:
    """An INTERVAL as PostgreSQL keeps it: months, days and microseconds, each with its own sign.

    ``years``/``hours``/``minutes``/``seconds`` are the fields of its text form, as pgjdbc's
    ``PGInterval`` parses them (what Debezium converts).
    """

    years: int
    months: int
    days: int
    hours: int
    minutes: int
    micros: int  # of the seconds field

    @property
    def total_months(self) -> int:
        return self.years * 12 + self.months

    def field_seconds(self) -> float:
        """pgjdbc's ``PGInterval.getSeconds()``: wholeSeconds + microSeconds / 1e6, both with the
        field's sign, in double arithmetic (14 s 585966 µs is 14.585965999999999)."""
        whole = abs(self.micros) // 1_000_000 * (-1 if self.micros < 0 else 1)
        return whole + (self.micros - whole * 1_000_000) / 1e6

    def micro_duration(self) -> int:
        """Debezium's ``MicroDuration.durationMicros`` (double arithmetic, truncated as Java's ``(long)``)."""
        field_seconds = self.field_seconds()
        days = self.total_months * DAYS_PER_MONTH_AVG + self.days
        seconds = (((days * 24 + self.hours) * 60) + self.minutes) * 60 + field_seconds
        return int(seconds * 1e6)

    def iso_seconds(self) -> Decimal:
        """The seconds of Debezium's ISO string (``PostgresValueConverter`` with pgoutput):
        ``BigDecimal.valueOf(getSeconds())``, cut to 9 decimals (``RoundingMode.DOWN``) by
        ``Interval.toIsoString``; so 14.585966 s arrives as ``14.585965999``."""
        seconds = Decimal(repr(self.field_seconds()))  # Double.toString: the shortest exact digits
        if -seconds.as_tuple().exponent > 9:  # type: ignore[operator]
            seconds = seconds.quantize(Decimal("1e-9"), rounding=ROUND_DOWN)
        return seconds

    def same_iso(self, text: str) -> bool:
        """``io.debezium.time.Interval`` (interval.handling.mode=string): ``P<y>Y<m>M<d>DT<h>H<m>M<s>S``."""
        match = _ISO_INTERVAL.match(text)
        if match is None:
            return False
        years, months, days, hours, minutes = (int(g) for g in match.groups()[:5])
        try:
            seconds = Decimal(match.group(6))
        except InvalidOperation:
            return False
        if seconds == self.iso_seconds():  # Debezium's rendering of this very field
            seconds = Decimal(self.micros) / 1_000_000
        exact = seconds * 1_000_000
        if exact != exact.to_integral_value():
            return False
        micros = int(exact)
        clock = lambda h, m, us: (h * 60 + m) * 60_000_000 + us  # noqa: E731
        return (years * 12 + months, days, clock(hours, minutes, micros)) == (
            self.total_months,
            self.days,
            clock(self.hours, self.minutes, self.micros),
        )


class Placeholder:
    """Every shape of ``unavailable.value.placeholder`` (see Debezium's ``UnchangedToastedPlaceholder``).

    Text, JSON, XML and other string columns: the string; ``bytea``: its bytes (base64 in JSON, or
    the string with ``binary.handling.mode=hex``); text/json/varchar arrays: ``[string]``; bytea
    arrays: ``[base64]``; int/date/bigint arrays: the placeholder's bytes as numbers; uuid arrays:
    ``[UUID.nameUUIDFromBytes(bytes)]``; hstore: ``{string: string}`` (or that map as JSON text).
    """

    def __init__(self, configured: str = UNAVAILABLE) -> None:
        raw = bytes.fromhex(configured[4:]) if configured.startswith("hex:") else configured.encode()
        self.text = raw.decode("utf-8", "replace")
        encoded = base64.b64encode(raw).decode()
        self.scalars = {self.text, encoded, base64.urlsafe_b64encode(raw).decode(), raw.hex()}
        name_uuid = str(uuid.UUID(bytes=hashlib.md5(raw).digest(), version=3))  # noqa: S324 (Java's choice)
        signed = [b - 256 if b > 127 else b for b in raw]  # Java's (int) byte
        self.lists = [[self.text], [encoded], [name_uuid], signed]
        self.hstore = {self.text: self.text}

    def matches(self, value: object) -> bool:
        if isinstance(value, str):
            if value in self.scalars:
                return True
            if value.startswith("{") and self.text in value:
                try:
                    return bool(json.loads(value) == self.hstore)
                except ValueError:
                    return False
            return False
        if isinstance(value, list):
            return value in self.lists
        return isinstance(value, dict) and value == self.hstore


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ticks(delta: timedelta, per_second: int) -> int:
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * per_second // 1_000_000 if per_second <= 1_000_000 else micros * (per_second // 1_000_000)


def _same_instant(live: datetime, event: object, name: str | None) -> bool:
    if isinstance(event, str):
        parsed = _parse_iso(event)
        if parsed is None:
            return False
        if live.tzinfo is None and parsed.tzinfo is not None:  # isostring TIMESTAMP: UTC-stamped wall time
            return parsed.utcoffset() == timedelta(0) and parsed.replace(tzinfo=None) == live
        if live.tzinfo is not None and parsed.tzinfo is None:
            return False
        return parsed == live
    if isinstance(event, int) and not isinstance(event, bool):
        since = live - (EPOCH.replace(tzinfo=UTC) if live.tzinfo else EPOCH)
        units = (TIMESTAMP_UNITS[name],) if name in TIMESTAMP_UNITS else ANY_UNIT
        return any(_ticks(since, unit) == event for unit in units)
    return False


def _same_date(live: date, event: object) -> bool:
    if isinstance(event, int) and not isinstance(event, bool):  # every mode but isostring: days since epoch
        return (live - date(1970, 1, 1)).days == event
    if isinstance(event, str):
        try:
            return date.fromisoformat(event[:10]) == live
        except ValueError:
            return False
    return False


def _same_time(live: time, event: object, name: str | None) -> bool:
    if live.tzinfo is not None:  # TIMETZ: io.debezium.time.ZonedTime, always in UTC ("...Z")
        offset = live.utcoffset()
        if offset or not isinstance(event, str) or not event.endswith("Z"):
            return False
    since = timedelta(hours=live.hour, minutes=live.minute, seconds=live.second, microseconds=live.microsecond)
    if isinstance(event, int) and not isinstance(event, bool):
        units = (TIME_UNITS[name],) if name in TIME_UNITS else ANY_UNIT
        return any(_ticks(since, unit) == event for unit in units)
    if isinstance(event, str):
        try:
            parsed = time.fromisoformat(event.replace("Z", ""))
        except ValueError:
            return False
        return parsed.replace(tzinfo=None) == live.replace(tzinfo=None)
    return False


def _unscaled(encoded: str, scale: int) -> Decimal | None:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        return None
    return Decimal(f"{int.from_bytes(raw, 'big', signed=True)}E{-scale}")  # exact (scaleb rounds to 28 digits)


def _same_decimal(live: Decimal, event: object, field: dict | None) -> bool:
    name = (field or {}).get("name")
    if isinstance(event, bool):
        return False
    if not live.is_finite():
        special = "NaN" if live.is_nan() else str(live)
        if isinstance(event, float):
            return math.isnan(event) if live.is_nan() else event == float(live)
        return event in SPECIAL_DECIMALS.get(special, ())
    if isinstance(event, float | int):  # decimal.handling.mode=double: the double that prints back the value
        return math.isfinite(event) and Decimal(repr(float(event))) == live
    if isinstance(event, dict) and "value" in event and "scale" in event:  # VariableScaleDecimal (precise)
        return _unscaled(str(event["value"]), int(event["scale"])) == live
    if not isinstance(event, str):
        return False
    precise = name == "org.apache.kafka.connect.data.Decimal"
    if not precise:  # decimal.handling.mode=string (or no schema: try it first)
        try:
            if Decimal(event) == live:
                return True
        except InvalidOperation:
            pass
        if field is not None:
            return False
    params = (field or {}).get("parameters") or {}
    scale = int(params["scale"]) if "scale" in params else -int(live.as_tuple().exponent)
    return _unscaled(event, scale) == live


def _same_bytes(live: bytes, event: object) -> bool:
    if not isinstance(event, str):
        return False
    return event in (base64.b64encode(live).decode(), base64.urlsafe_b64encode(live).decode(), live.hex())


def same_value(live: object, event: object, field: dict | None = None) -> bool:
    """The live column value equals the event's, in whatever encoding the connector used."""
    name = (field or {}).get("name")
    if live is None or event is None:
        return live is None and event is None
    if isinstance(live, Infinite):  # never a date: Debezium sends a sentinel day (a known loss)
        return False
    if isinstance(live, PgInterval):
        if isinstance(event, str):
            return live.same_iso(event)
        return live.total_months == 0 and isinstance(event, int) and live.micro_duration() == event
    if isinstance(live, datetime):
        return _same_instant(live, event, name)
    if isinstance(live, date):
        return _same_date(live, event)
    if isinstance(live, time):
        return _same_time(live, event, name)
    if isinstance(live, Decimal):
        return _same_decimal(live, event, field)
    if isinstance(live, memoryview | bytes | bytearray):
        return _same_bytes(bytes(live), event)
    if isinstance(live, list) and isinstance(event, list):
        items = ((field or {}).get("items")) if field else None
        return len(live) == len(event) and all(same_value(a, b, items) for a, b in zip(live, event))
    if isinstance(live, dict | list) and isinstance(event, str):  # json/jsonb: io.debezium.data.Json text
        try:
            return bool(json.loads(event) == live)
        except ValueError:
            return False
    if isinstance(live, str) and isinstance(event, str):
        return live.rstrip() == event.rstrip()  # CHAR(n) padding
    if isinstance(live, float) and isinstance(event, float | int) and not isinstance(event, bool):
        return live == event or (math.isnan(live) and math.isnan(event))
    return bool(live == event)


def describe(value: Any) -> str:
    return repr(str(value)[:60])
