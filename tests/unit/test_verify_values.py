"""verify's value comparison: every time.precision.mode, decimal.handling.mode and placeholder shape."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from daemon.cdc.debezium import read_events
from daemon.cdc.values import Placeholder, same_value
from daemon.cdc.verify import compare_state, replay

STAMP = datetime(2024, 3, 5, 14, 7, 9, 123456)  # TIMESTAMP(6)
STAMP_TZ = STAMP.replace(tzinfo=UTC)  # TIMESTAMPTZ
MICROS = 1709647629123456
DAY = date(2024, 3, 5)  # 19787 days after the epoch


@pytest.mark.parametrize(
    ("live", "event", "name"),
    [
        # adaptive / adaptive_time_microseconds
        (DAY, 19787, "io.debezium.time.Date"),
        (STAMP, MICROS, "io.debezium.time.MicroTimestamp"),
        (STAMP.replace(microsecond=123000), MICROS // 1000, "io.debezium.time.Timestamp"),  # TIMESTAMP(3)
        (STAMP_TZ, "2024-03-05T14:07:09.123456Z", "io.debezium.time.ZonedTimestamp"),
        (time(8, 30, 0, 250000), 30600250000, "io.debezium.time.MicroTime"),
        # connect
        (DAY, 19787, "org.apache.kafka.connect.data.Date"),
        (STAMP, MICROS // 1000, "org.apache.kafka.connect.data.Timestamp"),
        (time(8, 30, 0, 250000), 30600250, "org.apache.kafka.connect.data.Time"),
        # isostring
        (DAY, "2024-03-05", "io.debezium.time.IsoDate"),
        (STAMP, "2024-03-05T14:07:09.123456Z", "io.debezium.time.IsoTimestamp"),
        (STAMP_TZ, "2024-03-05T11:07:09.123456-03:00", "io.debezium.time.ZonedTimestamp"),
        (time(8, 30, 0, 250000), "08:30:00.25Z", "io.debezium.time.IsoTime"),
        # decimal.handling.mode: precise (unscaled big-endian two's complement, scale in the schema), double, string
        (Decimal("-12.30"), base64.b64encode((-1230).to_bytes(2, "big", signed=True)).decode(), "precise"),
        (Decimal("12.30"), 12.3, None),
        (Decimal("12.30"), "12.30", None),
    ],
)
def test_values_match_in_every_mode_with_and_without_the_schema(live, event, name):
    field = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}
    field = field if name == "precise" else {"type": "x", "name": name} if name else None
    assert same_value(live, event, field)
    assert same_value(live, event, None)  # no schema: the live column's type decides


@pytest.mark.parametrize(
    ("live", "event", "name"),
    [
        (DAY, 19788, "io.debezium.time.Date"),
        (STAMP, MICROS + 1, "io.debezium.time.MicroTimestamp"),
        (STAMP, MICROS // 1000, "io.debezium.time.MicroTimestamp"),  # right value, wrong unit for its schema
        (STAMP_TZ, "2024-03-05T14:07:09.123457Z", None),
        (STAMP, "2024-03-05T14:07:09.123456-03:00", None),
        (Decimal("12.30"), "12.31", None),
        (Decimal("12.30"), 12.31, None),
        (Decimal("12.30"), base64.b64encode((1231).to_bytes(2, "big", signed=True)).decode(), None),
        ("texto longo", "", None),
    ],
)
def test_different_values_differ(live, event, name):
    assert not same_value(live, event, {"name": name} if name else None)


def test_placeholder_in_every_shape_debezium_emits():
    default = Placeholder()
    raw = b"__debezium_unavailable_value"
    shapes = [
        "__debezium_unavailable_value",  # text, varchar, json, jsonb, xml, uuid
        base64.b64encode(raw).decode(),  # bytea (binary.handling.mode=bytes, JSON converter)
        raw.hex(),  # bytea, binary.handling.mode=hex
        ["__debezium_unavailable_value"],  # text[], varchar[], json[]
        [base64.b64encode(raw).decode()],  # bytea[]
        list(raw),  # int[], bigint[], date[]: the bytes as numbers
        ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"],  # uuid[]: Java's UUID.nameUUIDFromBytes(placeholder bytes)
        {"__debezium_unavailable_value": "__debezium_unavailable_value"},  # hstore (map mode)
        json.dumps({"__debezium_unavailable_value": "__debezium_unavailable_value"}),  # hstore (json mode)
    ]
    assert all(default.matches(s) for s in shapes)
    assert not any(default.matches(v) for v in ("", None, [], "__debezium", ["x"], 0))
    assert Placeholder("hex:00ff").matches([0, -1])  # a configured binary placeholder: Java's signed bytes
    assert Placeholder("??").matches("??") and not Placeholder("??").matches("__debezium_unavailable_value")


class FakeCursor:
    def __init__(self, rows):
        self.rows, self.description = rows, None

    def execute(self, query, params):
        self.description = [("id",), ("resultado",), ("data",)]

    def fetchall(self):
        return self.rows


def toast_events(after_value):
    """A realistic REPLICA IDENTITY DEFAULT sequence: insert with the report, update leaving it unchanged."""
    insert = {"before": None, "after": {"id": 4, "resultado": "x" * 5000, "data": "2024-03-05T14:07:09.123456Z"},
              "op": "c", "source": {"table": "exames", "txId": 40, "lsn": 1, "snapshot": "false"}}  # fmt: skip
    update = {"before": None, "after": {"id": 4, "resultado": after_value, "data": "2024-03-06T10:00:00Z"},
              "op": "u", "source": {"table": "exames", "txId": 41, "lsn": 2, "snapshot": "false"}}  # fmt: skip
    return list(read_events([json.dumps(insert), json.dumps(update)]))


def test_a_placeholder_keeps_the_value_an_earlier_event_carried():
    events = toast_events("__debezium_unavailable_value")
    assert replay(events)[("exames", 4)].values["resultado"] == "x" * 5000
    live = [(4, "x" * 5000, datetime(2024, 3, 6, 10, tzinfo=UTC))]
    check = compare_state(FakeCursor(live), events)
    assert check.rows == 1 and not check.differences
    only_update = compare_state(FakeCursor(live), events[1:])
    assert only_update.unavailable == 1 and not only_update.differences


def test_a_placeholder_replaced_with_an_empty_string_is_named_with_its_event():
    live = [(4, "x" * 5000, datetime(2024, 3, 6, 10, tzinfo=UTC))]
    check = compare_state(FakeCursor(live), toast_events(""))
    [diff] = check.differences
    assert (diff.table, diff.pk, diff.column, diff.event) == ("exames", 4, "resultado", "")
    assert (diff.origin.op, diff.origin.txid) == ("update", 41)
