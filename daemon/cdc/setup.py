"""Debezium readiness at bootstrap: publication, REPLICA IDENTITY, heartbeat table.

The publication (CDC_PUBLICATION) holds the 7 tables plus the heartbeat table (CDC_HEARTBEAT_TABLE):
the connector runs with ``publication.autocreate.mode=disabled`` and never alters it.

Identifiers come from configuration, so they are composed with ``psycopg2.sql.Identifier``
(quoted), never by string formatting. Idempotent like the rest of the bootstrap.
"""

from __future__ import annotations

from loguru import logger
from psycopg2 import sql

from daemon.config import CdcSettings
from daemon.pg import sqlfiles
from daemon.pg.connection import Cursor
from daemon.pg.tables import TABLES, quoted


def heartbeat_query(table: str) -> str:
    """The statement to give Debezium as ``heartbeat.action.query``."""
    ident = '"' + table.replace('"', '""') + '"'
    return f"INSERT INTO {ident} (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts"


def apply(cur: Cursor, cdc: CdcSettings, schema_extras: tuple[str, ...] = ()) -> None:
    """Run inside the bootstrap transaction (advisory lock held); ``schema_extras``' tables are
    published and given the REPLICA IDENTITY like the seven."""
    if cdc.replica_identity:
        mode = sql.SQL("FULL" if cdc.replica_identity == "full" else "DEFAULT")
        for table in (*TABLES, *schema_extras):
            cur.execute(sql.SQL("ALTER TABLE {} REPLICA IDENTITY {}").format(sql.Identifier(table), mode))
        logger.bind(event="cdc.replica_identity", mode=cdc.replica_identity).info(
            "REPLICA IDENTITY {mode} on the 7 tables{extras}",
            mode=cdc.replica_identity.upper(),
            extras="".join(f" and {t}" for t in schema_extras),
        )
    if cdc.ledger_table:  # never in the publication: it is the truth the pipeline is checked against
        cur.execute(
            sql.SQL(sqlfiles.load("ledger_table")).format(
                table=sql.Identifier(cdc.ledger_table), regclass=sql.Literal(quoted(cdc.ledger_table))
            )
        )
        logger.bind(event="cdc.ledger_table", table=cdc.ledger_table).info(
            "ledger table {table} ready: every committed change gets its row in the same transaction",
            table=cdc.ledger_table,
        )
    if cdc.heartbeat_table:  # before the publication, which holds it
        cur.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (id INT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL DEFAULT now())").format(
                sql.Identifier(cdc.heartbeat_table)
            )
        )
        cur.execute(
            sql.SQL("INSERT INTO {} (id) VALUES (1) ON CONFLICT (id) DO NOTHING").format(
                sql.Identifier(cdc.heartbeat_table)
            )
        )
        logger.bind(event="cdc.heartbeat", table=cdc.heartbeat_table).info(
            "heartbeat table {table} ready; heartbeat.action.query: {query}",
            table=cdc.heartbeat_table,
            query=heartbeat_query(cdc.heartbeat_table),
        )
    if cdc.publication:
        tables = published_tables(cdc.heartbeat_table, schema_extras)
        _publication(cur, cdc.publication, tables, cdc.publish_via_partition_root)


def published_tables(heartbeat_table: str | None, schema_extras: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What CDC_PUBLICATION holds: the 7 tables, the SCHEMA_EXTRAS tables and, when configured,
    the heartbeat table.

    Debezium only sees a heartbeat.action.query's writes (and so can confirm an LSN while the 7
    tables are idle) when the heartbeat table is in the publication.
    """
    tables = (*TABLES, *schema_extras)
    return tables if not heartbeat_table or heartbeat_table in tables else (*tables, heartbeat_table)


def _publication(cur: Cursor, name: str, tables: tuple[str, ...], via_root: bool = False) -> None:
    cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,))
    listed = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
    if cur.fetchone() is None:
        cur.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = {})").format(
                sql.Identifier(name), listed, sql.SQL(str(via_root).lower())
            )
        )
        extra = tables[len(TABLES) :]
        logger.bind(event="cdc.publication", publication=name, created=True, via_root=via_root).info(
            "publication {publication} created for the 7 tables{extra} (publish_via_partition_root = {via_root})",
            publication=name,
            extra="".join(f" and {t}" for t in extra),
            via_root=str(via_root).lower(),
        )
        return
    cur.execute(sqlfiles.load("publication_tables"), {"pub": name})
    present = {row[0] for row in cur.fetchall()}
    missing = [t for t in tables if t not in present]
    if missing:
        cur.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(t) for t in missing)
            )
        )
    logger.bind(event="cdc.publication", publication=name, created=False, added=missing).info(
        "publication {publication} present; tables added: {added}", publication=name, added=", ".join(missing) or "none"
    )
    _via_root(cur, name, via_root)


def _via_root(cur: Cursor, name: str, wanted: bool) -> None:
    """CDC_PUBLISH_VIA_PARTITION_ROOT on the publication: set when it differs (a partitioned
    table's changes then reach Debezium under the parent's name, or each partition's own)."""
    cur.execute("SELECT pubviaroot FROM pg_publication WHERE pubname = %s", (name,))
    row = cur.fetchone()
    if row is None or bool(row[0]) == wanted:
        return
    cur.execute(
        sql.SQL("ALTER PUBLICATION {} SET (publish_via_partition_root = {})").format(
            sql.Identifier(name), sql.SQL("true" if wanted else "false")
        )
    )
    logger.bind(event="cdc.publish_via_partition_root", publication=name, value=wanted).info(
        "publication {publication}: publish_via_partition_root = {value} (partitions' changes published as {what})",
        publication=name,
        value=str(wanted).lower(),
        what="the parent's" if wanted else "their own",
    )
