"""The heartbeat with the shipped connector settings, run as the least-privilege role of sql/roles.sql.

While the seven tables are idle and another database of the same server writes WAL, the slot's
confirmed_flush_lsn must keep advancing: Debezium confirms an LSN only when a change of its
publication reaches it, and the change its heartbeat.action.query makes is in the heartbeat table,
which the simulator puts in the publication. ``publication.autocreate.mode=disabled``: the connector
uses that publication as it is (in ``filtered`` mode it would try to ALTER it, which the role cannot).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from daemon.cdc import doctor
from daemon.cdc.setup import heartbeat_query
from daemon.pg.cluster import find_bindir
from daemon.pg.tables import TABLES
from tests.support import REPO
from tests.support.db import admin_connect, query, wait_until
from tests.support.debezium_engine import DebeziumCapture, drop_slot

HEARTBEAT_MS = 1000  # shipped: 10000; shorter so that a 25 s observation sees many heartbeats
OBSERVE_SECONDS = 25
CONTROL_SECONDS = 12
# The slot may trail the server by the WAL written in one heartbeat interval, plus the engine's offset
# flush (200 ms), the replication connection's status interval and scheduling on a busy 2-core machine:
# allow 8 s worth of the writer's WAL. An idle slot would trail by all of it (25 s worth and growing).
LAG_BOUND_SECONDS = 8.0
SIM_PASSWORD, DBZ_PASSWORD = "sim-pw", "dbz-pw"


def shipped_connector() -> dict[str, str]:
    return json.loads((REPO / "docker" / "debezium-connector.json").read_text(encoding="utf-8"))["config"]


def shipped_heartbeat_table() -> str:
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    return compose["services"]["simulator"]["environment"]["CDC_HEARTBEAT_TABLE"]


@pytest.fixture
def roles(cluster, database, db) -> Iterator[None]:
    """sql/roles.sql as shipped, in this test's database; roles are cluster-wide: dropped afterwards."""
    psql = shutil.which("psql") or str(find_bindir() / "psql")
    variables = {"sim_password": f"'{SIM_PASSWORD}'", "dbz_password": f"'{DBZ_PASSWORD}'", "dbname": database}
    command = [psql, "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-d", database]
    command += ["-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-f", str(REPO / "sql" / "roles.sql")]
    for name, value in variables.items():
        command += ["-v", f"{name}={value}"]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
        yield
    finally:
        for role in ("debezium", "hospital_sim"):
            if query(db, "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
                with db.cursor() as cur:
                    cur.execute(f"REASSIGN OWNED BY {role} TO postgres")
                    cur.execute(f"DROP OWNED BY {role}")
        admin = admin_connect(cluster)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # its grants reference the roles
            cur.execute("DROP ROLE IF EXISTS debezium")
            cur.execute("DROP ROLE IF EXISTS hospital_sim")
        admin.close()


class OtherDatabaseWriter:
    """Writes WAL from a second database of the same server until stopped (the slot sees none of it)."""

    def __init__(self, cluster, name: str) -> None:
        self.cluster, self.name = cluster, name
        self.stop = threading.Event()
        self.error: BaseException | None = None
        admin = admin_connect(cluster)
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        admin.close()
        self.thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)

    def _run(self) -> None:
        try:
            conn = admin_connect(self.cluster, self.name)
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE noise (id bigserial PRIMARY KEY, payload text)")
                while not self.stop.is_set():
                    cur.execute("INSERT INTO noise (payload) SELECT repeat('x', 200) FROM generate_series(1, 50)")
                    time.sleep(0.02)
            conn.close()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def __enter__(self) -> OtherDatabaseWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        admin = admin_connect(self.cluster)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        admin.close()


def slot_position(db, slot: str) -> tuple[int, int]:
    """(confirmed_flush_lsn, server's current WAL LSN), as byte positions."""
    row = query(
        db,
        "SELECT pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    )
    assert row and row[0][0] is not None, f"no slot {slot}"
    return row[0][0], row[0][1]


@dataclass(frozen=True)
class Observation:
    """The slot sampled every half second while another database wrote WAL."""

    samples: list[tuple[float, int, int]]  # (monotonic time, confirmed_flush_lsn, current WAL LSN)

    @property
    def written(self) -> int:
        return self.samples[-1][2] - self.samples[0][2]

    @property
    def rate(self) -> float:
        return self.written / (self.samples[-1][0] - self.samples[0][0])

    @property
    def lags(self) -> list[int]:
        return [current - flushed for _, flushed, current in self.samples]

    @property
    def advances(self) -> int:
        return sum(1 for a, b in zip(self.samples, self.samples[1:], strict=False) if b[1] > a[1])

    @property
    def advanced(self) -> int:
        return self.samples[-1][1] - self.samples[0][1]

    def __str__(self) -> str:
        seconds = self.samples[-1][0] - self.samples[0][0]
        return (
            f"{self.written:,} bytes of WAL in {seconds:.1f}s ({self.rate:,.0f} B/s); confirmed_flush_lsn advanced "
            f"{self.advances} times by {self.advanced:,} bytes; lag max {max(self.lags):,}, last {self.lags[-1]:,}"
        )


@dataclass
class Connector:
    """The shipped connector running as debezium on this test's database, bootstrapped as hospital_sim."""

    config: dict[str, str]
    heartbeat: str
    slot: str
    capture: DebeziumCapture

    def observe(self, cluster, db, database: str, seconds: float) -> Observation:
        with OtherDatabaseWriter(cluster, f"{database}_wal") as writer:
            samples = []
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                samples.append((time.monotonic(), *slot_position(db, self.slot)))
                time.sleep(0.5)
        assert writer.error is None, writer.error
        return Observation(samples)


PUBLISHED = "SELECT tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1"


@pytest.fixture
def connector(cluster, roles, database, db, make_config, bootstrap, tmp_path: Path) -> Iterator[Connector]:
    config = shipped_connector()
    heartbeat = shipped_heartbeat_table()
    assert config["heartbeat.action.query"] == heartbeat_query(heartbeat)
    bootstrap(
        make_config(
            PG_USER="hospital_sim",
            PG_PASSWORD=SIM_PASSWORD,
            CDC_PUBLICATION=config["publication.name"],
            CDC_HEARTBEAT_TABLE=heartbeat,
        )
    )
    expected = sorted([*TABLES, heartbeat])
    assert [t for (t,) in query(db, PUBLISHED, (config["publication.name"],))] == expected

    slot = f"hospital_slot_{database}"
    engine_managed = {"connector.class", "tasks.max", "key.converter", "value.converter"}
    extra = {k: v for k, v in config.items() if not k.startswith("database.") and k not in engine_managed}
    extra.update({"slot.name": slot, "heartbeat.interval.ms": str(HEARTBEAT_MS), "offset.flush.interval.ms": "200"})
    capture = DebeziumCapture(
        host="127.0.0.1",
        port=cluster.port,
        user=config["database.user"],
        password=DBZ_PASSWORD,
        dbname=database,
        slot_name=slot,
        publication=config["publication.name"],
        offsets_file=tmp_path / "offsets.dat",
        topic_prefix=config["topic.prefix"],
        tables=config["table.include.list"].split(","),
        extra_properties=extra,
    )
    try:
        capture.start(timeout=120)  # fails here on an ALTER PUBLICATION the role may not run
        assert [t for (t,) in query(db, PUBLISHED, (config["publication.name"],))] == expected, "publication altered"
        with db.cursor() as cur:
            cur.execute(f"UPDATE \"{heartbeat}\" SET ts = '2000-01-01' WHERE id = 1")
        wait_until(
            lambda: query(db, f'SELECT ts FROM "{heartbeat}" WHERE id = 1')[0][0].year > 2000,
            timeout=60,
            what="the heartbeat.action.query, run as debezium",
        )
        yield Connector(config, heartbeat, slot, capture)
    finally:
        capture.stop(raise_errors=False)
        drop_slot(db, slot)


def test_slot_advances_on_heartbeats_while_the_tables_are_idle(connector, cluster, database, db) -> None:
    seen = connector.observe(cluster, db, database, OBSERVE_SECONDS)
    bound = seen.rate * LAG_BOUND_SECONDS
    report = f"{seen}, bound {bound:,.0f}"
    print(report)
    assert seen.written > 1_000_000, f"the other database wrote too little WAL to tell: {report}"
    assert seen.advances >= OBSERVE_SECONDS // 5, report
    assert seen.advanced > seen.written / 2, report
    half = len(seen.samples) // 2  # the first samples still hold the other database's CREATE DATABASE
    assert max(seen.lags[half:]) < bound, report
    topics = {r.destination for r in connector.capture.events()}
    assert f"__debezium-heartbeat.{connector.config['topic.prefix']}" in topics, topics
    assert not any(t.endswith(f".{connector.heartbeat}") for t in topics), topics  # its rows are no change events


def test_without_the_heartbeat_table_in_the_publication_the_slot_stalls_and_doctor_fails(
    connector, cluster, database, db, make_config
) -> None:
    """The control: the same connector, the heartbeat table dropped from the publication by hand."""
    publication = connector.config["publication.name"]
    with db.cursor() as cur:
        cur.execute(f'ALTER PUBLICATION "{publication}" DROP TABLE "{connector.heartbeat}"')
    seen = connector.observe(cluster, db, database, CONTROL_SECONDS)
    print(seen)
    assert seen.advanced < seen.written / 10, seen  # heartbeats run, yet nothing reaches Debezium
    assert seen.lags[-1] >= seen.written, seen
    out = io.StringIO()
    config = make_config(
        PG_USER="hospital_sim",
        PG_PASSWORD=SIM_PASSWORD,
        CDC_PUBLICATION=publication,
        CDC_HEARTBEAT_TABLE=connector.heartbeat,
    )
    assert doctor.doctor(config, out) == 1
    assert "FAIL  heartbeat in publication" in out.getvalue(), out.getvalue()
    assert "ALTER PUBLICATION" in out.getvalue()
