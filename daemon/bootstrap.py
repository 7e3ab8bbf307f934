"""The bootstrap: the schema step, then the CDC step, in one transaction under the advisory lock.

It sits above ``pg/`` and ``cdc/`` so that neither imports the other: the schema knows nothing of
Debezium, and the CDC objects (REPLICA IDENTITY, publication, heartbeat table) are applied to the
tables the schema step has just made sure exist. One transaction keeps replicas from seeing
tables without their publication.
"""

from __future__ import annotations

from datetime import UTC, datetime

from daemon.cdc import setup as cdc_setup
from daemon.config import CdcSettings
from daemon.pg import extras, partitions, schema
from daemon.pg.connection import Connection, transaction


def bootstrap_database(conn: Connection, cdc: CdcSettings | None = None, schema_extras: tuple[str, ...] = ()) -> None:
    """Create what is missing of the schema (and of the SCHEMA_EXTRAS tables), then the CDC
    objects configured; a no-op when all exist."""
    with transaction(conn) as cur:
        schema.lock(cur)
        created = schema.create(cur)
        extras.create(cur, schema_extras)
        if cdc is not None:
            cdc_setup.apply(cur, cdc, schema_extras)
        if partitions.PARENT in schema_extras:  # after REPLICA IDENTITY, which new partitions follow
            partitions.ensure(cur, partitions.ahead(datetime.now(UTC)), "bootstrap")
    schema.report_ready(created)
