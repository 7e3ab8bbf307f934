"""Fixtures shared by every tier: one throwaway PostgreSQL cluster per session, a fresh database per test.

The cluster runs as an unprivileged OS user when the suite runs as root (PostgreSQL refuses
root), on a free loopback port, with wal_level=logical. The project's environment variables (and
libpq's) are purged so a developer's shell or .env cannot leak into tests.

Tiers, by directory (markers are applied here, per directory):
  unit/         pure: no database, no process
  integration/  the real PostgreSQL, in-process                      (marker: integration)
  acceptance/   ``python -m daemon`` as a process                   (marker: acceptance)
  cdc/          the real Debezium connector, in-process              (marker: debezium)
  container/    the image and the Kubernetes manifest, with podman   (marker: container)

A test marked ``@pytest.mark.seeded(**variables)`` (or asking for ``seeded_database``) gets a
database cloned from a template bootstrapped and seeded once per session with those variables.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from daemon.bootstrap import bootstrap_database
from daemon.config import Config, load_config
from daemon.pg import connection
from daemon.pg.cluster import LocalCluster, temporary_cluster
from daemon.seed import loader
from daemon.signals import StopSignal
from daemon.stream.streamer import Streamer
from tests.support.bench import import_bench
from tests.support.db import admin_connect, query
from tests.support.env import is_leaky, leaky

TESTS = Path(__file__).resolve().parent
# directory -> marker applied to every test in it
TIER_MARKERS = {
    "unit": "unit",
    "integration": "integration",
    "acceptance": "acceptance",
    "cdc": "debezium",
    "container": "container",
}
INDEXES_SQL = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
RANDOM_SEED = "1234"  # make_config's and the seeded templates' default
_db_counter = itertools.count()


def pytest_configure(config) -> None:
    # The session cluster starts before any per-test purge: leave it nothing to inherit either
    # (PG_BIN_DIR only says where PostgreSQL is installed).
    for name in leaky(os.environ):
        if name != "PG_BIN_DIR":
            del os.environ[name]


def pytest_collection_modifyitems(config, items) -> None:
    """Tier markers by directory; Debezium tests need Java 17 (CI installs it), else they are skipped."""
    for item in items:
        try:
            tier = Path(item.fspath).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if tier in TIER_MARKERS:
            item.add_marker(TIER_MARKERS[tier])
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return
    skip = pytest.mark.skip(reason="no Java runtime: install openjdk-17-jre-headless to run the Debezium tests")
    for item in items:
        if "debezium" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with temporary_cluster("hsim-test-") as c:
        yield c


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in leaky(os.environ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def _config_for(env: dict[str, str]) -> Config:
    """A Config from exactly ``env`` (nothing inherited), without touching the test's environment."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if is_leaky(n)]:
            mp.delenv(name)
        for key, value in env.items():
            mp.setenv(key, value)
        return load_config(dotenv=None)


class SeededTemplate(NamedTuple):
    """A database bootstrapped and seeded once per session, to clone tests' databases from."""

    name: str
    variables: dict[str, str]  # the variables it was seeded with (beyond the connection's)
    loaded: dict[str, int] | None  # what loader.seed_if_empty returned
    bootstrapped_indexes: list[tuple]  # (indexname, indexdef) right after bootstrap, before the seed


@pytest.fixture(scope="session")
def seeded_templates(cluster: LocalCluster) -> Iterator[Callable[[dict[str, str]], SeededTemplate]]:
    """``get(variables)``: the template seeded with those variables, built on first use."""
    built: dict[tuple, SeededTemplate] = {}

    def get(variables: dict[str, str]) -> SeededTemplate:
        variables = {"RANDOM_SEED": RANDOM_SEED, **variables}
        key = tuple(sorted(variables.items()))
        if key not in built:
            name = f"tmpl_{os.getpid()}_{len(built)}"
            admin = admin_connect(cluster)
            try:
                with admin.cursor() as cur:
                    cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8')
            finally:
                admin.close()
            config = _config_for({**cluster.env(name), **variables})
            conn = connection.connect(config.pg)
            try:
                bootstrap_database(conn, config.cdc, config.schema.extras)
                indexes = query(conn, INDEXES_SQL)
                conn.commit()
                loaded = loader.seed_if_empty(conn, config.seed)
            finally:
                conn.close()
            built[key] = SeededTemplate(name, variables, loaded, indexes)
        return built[key]

    yield get
    admin = admin_connect(cluster)
    with admin.cursor() as cur:
        for template in built.values():
            cur.execute(f'DROP DATABASE IF EXISTS "{template.name}" WITH (FORCE)')
    admin.close()


def _seed_variables(request: pytest.FixtureRequest) -> dict[str, str] | None:
    marker = request.node.get_closest_marker("seeded")
    if marker is not None:
        return {k: str(v) for k, v in marker.kwargs.items()}
    return {} if "seeded_database" in request.fixturenames else None


@pytest.fixture
def database(request: pytest.FixtureRequest, cluster: LocalCluster) -> Iterator[str]:
    """A new database for this test, dropped afterwards: empty, or a clone of a seeded template."""
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    variables = _seed_variables(request)
    template = "template0" if variables is None else request.getfixturevalue("seeded_templates")(variables).name
    conn = admin_connect(cluster)
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" ENCODING UTF8')
    conn.close()
    yield name
    conn = admin_connect(cluster)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def seeded_database(request: pytest.FixtureRequest, database: str, seeded_templates) -> SeededTemplate:
    """This test's database is bootstrapped and seeded (variables from ``@pytest.mark.seeded``).

    Returns the template it was cloned from (what the seed loaded, the indexes after bootstrap).
    """
    return seeded_templates(_seed_variables(request) or {})


@pytest.fixture
def pg_env(cluster: LocalCluster, database: str) -> dict[str, str]:
    return cluster.env(database)


@pytest.fixture
def make_config(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, pg_env: dict[str, str]
) -> Callable[..., Config]:
    """Build a Config for the test database with extra variables (after those it was seeded with)."""
    seeded = _seed_variables(request) or {}

    def make(**overrides: str) -> Config:
        for key, value in {**pg_env, "RANDOM_SEED": RANDOM_SEED, **seeded, **overrides}.items():
            monkeypatch.setenv(key, value)
        return load_config(dotenv=None)

    return make


@pytest.fixture
def db(cluster: LocalCluster, database: str) -> Iterator:
    """An autocommit connection to the test database for assertions."""
    conn = admin_connect(cluster, database)
    yield conn
    conn.close()


@pytest.fixture
def pg_connect() -> Iterator[Callable[[Config], Any]]:
    """``pg_connect(config)``: a connection as the daemon opens it; closed after the test."""
    opened: list = []

    def connect(config: Config):
        conn = connection.connect(config.pg)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        connection.close_quietly(conn)


@pytest.fixture
def bootstrap(pg_connect) -> Callable[[Config], None]:
    """``bootstrap(config)``: the daemon's schema (and configured CDC objects) in the test database."""

    def run(config: Config) -> None:
        conn = pg_connect(config)
        bootstrap_database(conn, config.cdc, config.schema.extras)
        conn.close()

    return run


@pytest.fixture
def make_streamer(pg_connect) -> Iterator[Callable[..., Streamer]]:
    """``make_streamer(config, ledger=None, **kwargs)``: a prepared Streamer on the (seeded) test database.

    ``kwargs`` go to :class:`Streamer` (e.g. ``clock``). Every streamer made is closed after the
    test (closing twice is harmless).
    """
    made: list[Streamer] = []

    def make(config: Config, ledger=None, **kwargs: Any) -> Streamer:
        streamer = Streamer(config, StopSignal(), pg_connect(config), ledger=ledger, **kwargs)
        made.append(streamer)
        streamer.prepare()
        return streamer

    yield make
    for streamer in made:
        streamer.close()


@pytest.fixture
def bench_common(monkeypatch):
    """``bench/common.py``, imported as the benchmarks import it (``bench/`` on the path)."""
    import_bench(monkeypatch)
    import common

    return common
