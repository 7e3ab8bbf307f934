"""Fixtures: one throwaway PostgreSQL cluster per session, a fresh database per test.

The cluster runs as an unprivileged OS user when the suite runs as root (PostgreSQL refuses
root), on a free loopback port, with wal_level=logical. The project's environment variables are
purged so a developer's shell or .env cannot leak into tests.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from daemon.catalogue import VARIABLES
from daemon.config import Config, load_config
from daemon.pg.cluster import LocalCluster, temporary_cluster

PROJECT_VARS = [var.name for var in VARIABLES] + ["PG_BIN_DIR"]
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with temporary_cluster("hsim-test-") as c:
        yield c


def admin_connect(cluster: LocalCluster, database: str = "postgres"):
    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname=database)
    conn.autocommit = True
    return conn


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in PROJECT_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.fixture
def database(cluster: LocalCluster) -> Iterator[str]:
    """A new, empty database for this test; dropped afterwards."""
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    conn = admin_connect(cluster)
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8')
    conn.close()
    yield name
    conn = admin_connect(cluster)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def pg_env(cluster: LocalCluster, database: str) -> dict[str, str]:
    return cluster.env(database)


@pytest.fixture
def make_config(monkeypatch: pytest.MonkeyPatch, pg_env: dict[str, str]):
    """Build a Config for the test database with extra variables."""

    def make(**overrides: str) -> Config:
        for key, value in {**pg_env, "RANDOM_SEED": "1234", **overrides}.items():
            monkeypatch.setenv(key, value)
        return load_config(dotenv=None)

    return make


@pytest.fixture
def db(cluster: LocalCluster, database: str) -> Iterator:
    """An autocommit connection to the test database for assertions."""
    conn = admin_connect(cluster, database)
    yield conn
    conn.close()


def query(conn, sql: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params or None)
        return cur.fetchall()


def pytest_collection_modifyitems(config, items) -> None:
    """Debezium tests need Java 17 (CI installs it); elsewhere they are skipped with the reason."""
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return
    skip = pytest.mark.skip(reason="no Java runtime: install openjdk-17-jre-headless to run the Debezium tests")
    for item in items:
        if "debezium" in item.keywords:
            item.add_marker(skip)
