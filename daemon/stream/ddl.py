"""Schema changes while streaming (STREAM_DDL_EVERY_SECONDS > 0, SCHEMA_EXTRAS=faturamento).

Debezium's pgoutput connector captures no DDL: it learns a table's new shape from the next change
to it. This module makes the changes a real billing system goes through, one every
STREAM_DDL_EVERY_SECONDS, in the fixed order of ``sql/ddl_steps.sql``: add a nullable column,
add one with a default, widen a VARCHAR, add an enum label, drop the column the daemon added. The
stream starts using each change as soon as it commits (``daemon.stream.kinds.shape``).

Each step is a transaction of its own: a transaction-level advisory lock (replicas take turns),
a look at the catalogue for the step due (so a restarted daemon continues the sequence where the
catalogue says it is), the statement under a lock_timeout, ``txid_current()``, and with
LEDGER_TABLE its ledger row; once committed, it is recorded in the ledger as
``Change("faturamento", "ddl", 0, txid, detail=...)`` (the statement, the step and what it
changed) and logged. A column change takes faturamento's ACCESS EXCLUSIVE lock before its txid
is assigned and keeps it to its commit, while every stream event on faturamento holds the table
from before its txid to its commit: so an event's txid after the DDL's means it committed after
it (``daemon.cdc.verify_ddl`` relies on this). A connection lost during COMMIT is settled with
``txid_status`` after reconnecting.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import psycopg2
from loguru import logger

from daemon.cdc.ledger import Change
from daemon.errors import DatabaseRejected, StopRequested, first_line
from daemon.pg import connection, sqlfiles
from daemon.pg.connection import Connection, borrowed_transaction, fetch_one
from daemon.pg.tables import quoted
from daemon.stream.kinds.shape import (
    EM_RECURSO,
    OBSERVACAO,
    SENHA,
    SENHA_WIDTH,
    STATUS,
    VERSAO_DEFAULT,
    VERSAO_TISS,
    Shape,
    ShapeCache,
    read_shape,
)

TABLE = "faturamento"
DDL_LOCK_KEY = 0x48534D444C  # "HSMDL": one schema change at a time across replicas
LOCK_TIMEOUT = "3s"  # a column change waits this long for the table (events hold it briefly)
RETRY_SECONDS = 5.0  # after a failed attempt (lock timeout, lost connection)
log = logger.bind(channel="stream")


@dataclass(frozen=True)
class Step:
    """One schema change: its section of sql/ddl_steps.sql and what it changes."""

    name: str
    ddl: str  # add_column | alter_type | add_enum_value | drop_column
    column: str
    extra: tuple[tuple[str, object], ...] = ()  # default, width, label...

    @property
    def statement(self) -> str:
        return statements()[self.name]

    def detail(self) -> tuple[tuple[str, object], ...]:
        """What the ledger says about it (``Change.detail``)."""
        return (("step", self.name), ("ddl", self.ddl), ("column", self.column), *self.extra,
                ("statement", self.statement))  # fmt: skip


STEPS = (
    Step("add_observacao", "add_column", OBSERVACAO, (("default", None),)),
    Step("add_versao_tiss", "add_column", VERSAO_TISS, (("default", VERSAO_DEFAULT),)),
    Step("widen_senha", "alter_type", SENHA, (("old_width", SENHA_WIDTH[0]), ("width", SENHA_WIDTH[1]))),
    Step("add_em_recurso", "add_enum_value", STATUS, (("type", "status_guia"), ("label", EM_RECURSO))),
    Step("drop_observacao", "drop_column", OBSERVACAO),
)


@cache
def statements() -> dict[str, str]:
    """Step name -> its statement, from sql/ddl_steps.sql's ``-- step: <name>`` sections."""
    out: dict[str, str] = {}
    for section in re.split(r"^-- step: ", sqlfiles.load("ddl_steps"), flags=re.M)[1:]:
        name, _, body = section.partition("\n")
        sql = "\n".join(line for line in body.splitlines() if line.strip() and not line.startswith("--"))
        out[name.strip()] = sql.strip().rstrip(";")
    return out


def done(step: Step, shape: Shape) -> bool:
    """Whether the catalogue shows ``step`` made (the sequence's later steps included)."""
    dropped = shape.has(VERSAO_TISS) and not shape.has(OBSERVACAO)  # the last step undoes the first
    return {
        "add_observacao": shape.has(OBSERVACAO) or dropped,
        "add_versao_tiss": shape.has(VERSAO_TISS),
        "widen_senha": (shape.width(SENHA) or 0) >= SENHA_WIDTH[1],
        "add_em_recurso": EM_RECURSO in shape.labels,
        "drop_observacao": dropped,
    }[step.name]


def next_step(shape: Shape) -> Step | None:
    """The first step the catalogue does not show made (None: the sequence is complete)."""
    return next((step for step in STEPS if not done(step, shape)), None)


def ledger_insert(ledger_table: str) -> str:
    return f"INSERT INTO {quoted(ledger_table)} (tbl, op, pk, detail) VALUES ('{TABLE}', 'ddl', 0, %s::jsonb)"


class SchemaChanger:
    """Runs the step due every ``every`` seconds; ``check`` is a clock look when none is."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        shape: ShapeCache,
        every: float,
        ledger_table: str | None,
        record: Callable[[Change], None],
        clock: Callable[[], float] = time.monotonic,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self._connect = connect
        self.shape = shape
        self._every = every
        self._ledger_table = ledger_table
        self._record = record
        self._clock = clock
        self._on_lost = on_lost  # the connection is writer 0's: it is told when the session is gone
        self._last = clock()  # the first change comes one interval after the stream starts
        self._in_doubt: tuple[Step, int] | None = None
        self.complete = False

    def check(self) -> Change | None:
        """Make the step due, if one is; return its committed change."""
        if self.complete or self._clock() - self._last < self._every:
            return None
        self._last = self._clock()
        try:
            conn = self._connect()
            if self._in_doubt is not None:
                return self._settle(conn)
            return self._step(conn)
        except (StopRequested, DatabaseRejected):  # stopping, or the server refuses us: the writers say so
            if self._in_doubt is not None:
                log.bind(event="schema.ddl_unresolved", step=self._in_doubt[0].name).error(
                    "schema change {step} (txid {txid}) is in doubt and not recorded: stopped before its "
                    "outcome could be read",
                    step=self._in_doubt[0].name,
                    txid=self._in_doubt[1],
                )
            return None
        except psycopg2.Error as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: psycopg2.Error) -> None:
        """A lock timeout or a lost connection: tried again soon. A refusal (no privilege on the
        table, say): schema changes stop here, said once; the stream goes on."""
        if connection.is_connection_lost(exc):
            self._on_lost()
        elif (exc.pgcode or "")[:2] in connection.FATAL_SQLSTATE_CLASSES:
            self.complete = True
            log.bind(event="schema.ddl_refused").error(
                "schema changes stopped: the server refuses them: {error}", error=first_line(exc)
            )
            return
        log.bind(event="schema.ddl_failed").warning(
            "schema change not made, will retry: {error}", error=first_line(exc)
        )
        self._last = self._clock() - self._every + RETRY_SECONDS

    def _step(self, conn: Connection) -> Change | None:
        step: Step | None = None
        try:
            with borrowed_transaction(conn) as cur:  # the advisory lock lasts to its end
                cur.execute("SET LOCAL lock_timeout = %s", (LOCK_TIMEOUT,))
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
                # the catalogue as committed (another replica's steps included): the writers' shape too
                step = next_step(self.shape.set(read_shape(cur)))
                if step is None:
                    self._finish()
                    return None
                cur.execute(step.statement)
                cur.execute("SELECT txid_current()")
                txid = int(fetch_one(cur)[0])
                self._in_doubt = (step, txid)
                if self._ledger_table:
                    cur.execute(ledger_insert(self._ledger_table), (json.dumps(dict(step.detail())),))
                after = read_shape(cur)  # the shape once this commits
        except psycopg2.Error as exc:
            if self._in_doubt is None or not connection.is_connection_lost(exc):
                self._in_doubt = None
                raise
            self._on_lost()
            log.bind(event="schema.ddl_in_doubt", step=self._in_doubt[0].name).warning(
                "connection lost while committing schema change {step}: checking it after reconnecting",
                step=self._in_doubt[0].name,
            )
            return self._settle(self._connect())  # at once, as a writer settles its event
        self._in_doubt = None
        return self._committed(step, txid, after)

    def _settle(self, conn: Connection) -> Change | None:
        """After a connection lost during COMMIT: record the step if its transaction committed,
        make it again if it aborted, look again later while the server still runs it."""
        assert self._in_doubt is not None
        step, txid = self._in_doubt
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT txid_status(%s)", (txid,))
                status = fetch_one(cur)[0]
        except psycopg2.Error as exc:
            if connection.is_connection_lost(exc):
                raise
            status = f"unknown: {first_line(exc)}"  # e.g. a txid 'in the future' after a failover
        if status == "in progress":  # the old session has not ended yet: its COMMIT may still come
            self._last = self._clock() - self._every + RETRY_SECONDS
            return None
        self._in_doubt = None
        if status == "committed":
            with conn.cursor() as cur:
                return self._committed(step, txid, read_shape(cur))
        if status == "aborted":
            log.bind(event="schema.ddl_rolled_back", step=step.name).info(
                "schema change {step} did not commit: it is made again", step=step.name
            )
            self._last = self._clock() - self._every  # due now
            return self.check()
        log.bind(event="schema.ddl_unresolved", step=step.name).error(
            "schema change {step} (txid {txid}): outcome unknown ({status}), not recorded in the ledger; "
            "the catalogue decides the next step",
            step=step.name,
            txid=txid,
            status=status or "txid too old",
        )
        return None

    def _committed(self, step: Step, txid: int, shape: Shape) -> Change:
        change = Change(TABLE, "ddl", 0, txid, detail=step.detail())
        self._record(change)
        log.bind(event="schema.ddl", step=step.name, txid=txid, statement=step.statement).info(
            "schema change {step} committed (txid {txid}): {statement}",
            step=step.name,
            txid=txid,
            statement=step.statement,
        )
        if next_step(self.shape.set(shape)) is None:
            self._finish()
        return change

    def _finish(self) -> None:
        if not self.complete:
            self.complete = True
            log.bind(event="schema.ddl_complete").info(
                "schema change sequence complete ({n} steps): no more schema changes", n=len(STEPS)
            )
