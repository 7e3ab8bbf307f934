"""Initial load: the seven tables filled in one transaction with COPY, only when they are empty."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import NamedTuple

from loguru import logger

from daemon.config import SeedSettings
from daemon.data.bulk import BLOCK, BulkData
from daemon.data.copytext import encode_row
from daemon.data.rows import COLUMNS, CONSULTA_STATUS, CONSULTA_STATUS_WEIGHTS, HospitalData, Pools
from daemon.errors import StopRequested
from daemon.pg import sqlfiles
from daemon.pg.connection import Connection, Cursor, transaction
from daemon.pg.copy import copy_stream
from daemon.pg.schema import lock
from daemon.seed import guias, sinais
from daemon.seed.bulk_constraints import defer_checks, restore_checks
from daemon.seed.progress import Progress
from daemon.signals import StopSignal

LOOKUP_CNPJ_ROOTS = {"00394544", "11222333"}  # SUS, SaudePlus (sql/03_seed_lookups.sql)
# From this many rows on, foreign keys and secondary indexes are rebuilt after the load instead
# of being checked/updated row by row (per-row FK lookups cap COPY at ~50k rows/s on 2 cores).
DEFER_MIN_ROWS = 100_000
LOAD_ORDER = ("pacientes", "medicos", "convenios", "pacientes_convenios", "consultas", "exames", "internacoes")


def table_rng(seed: int, table: str) -> random.Random:
    """An independent, reproducible stream of randomness per table."""
    return random.Random(f"{seed}:{table}")


class SeedState(NamedTuple):
    """Over the six non-lookup tables."""

    state: str  # empty | seeded | partial
    filled: list[str]  # the tables that have rows


def seed_state(cur: Cursor) -> SeedState:
    cur.execute(sqlfiles.load("is_seeded"))
    rows = cur.fetchall()
    filled = [str(table) for table, has_rows in rows if has_rows]
    if not filled:
        return SeedState("empty", filled)
    return SeedState("seeded" if len(filled) == len(rows) else "partial", filled)


def seed_if_empty(
    conn: Connection, settings: SeedSettings, anchor: datetime | None = None, stop: StopSignal | None = None
) -> dict[str, int] | None:
    """Seed when the data tables are empty; return rows loaded, or None when nothing was done.

    Runs in one transaction under the bootstrap advisory lock: replicas starting together seed
    once, and a crash leaves the database as it was.
    """
    seed = settings.random_seed if settings.random_seed is not None else random.SystemRandom().randrange(2**31)
    anchor = anchor or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction(conn) as cur:
        lock(cur)
        state, filled = seed_state(cur)
        if state != "empty":
            # ``filled`` is text: ``tables`` is seed.done's {table: rows} (one type per JSON log field)
            log = logger.bind(event="seed.skipped", state=state, filled=", ".join(filled))
            if state == "partial":
                log.warning(
                    "seed skipped: only some tables have rows ({filled}); not touching a "
                    "partially filled database (run `reset` to start over)",
                    filled=", ".join(filled),
                )
            else:
                log.info("seed skipped: tables already hold data")
            return None
        logger.bind(event="seed.start", random_seed=seed).info(
            "seeding empty database (random seed {random_seed})", random_seed=seed
        )
        started = time.perf_counter()
        loaded = _load(cur, settings, seed, anchor, stop or StopSignal())
    elapsed = time.perf_counter() - started
    total = sum(loaded.values())
    fields = dict(rows=total, seconds=round(elapsed, 3), rate=round(total / elapsed) if elapsed else 0)
    logger.bind(event="seed.done", tables=loaded, **fields).info(
        "seed committed: {rows} rows in {seconds:.2f}s ({rate} rows/s)", **fields
    )
    return loaded


def _load(cur: Cursor, settings: SeedSettings, seed: int, anchor: datetime, stop: StopSignal) -> dict[str, int]:
    volumes = settings.scaled()
    pools = Pools.build(seed)
    cur.execute("SELECT id, cnpj FROM convenios ORDER BY id")
    lookups = cur.fetchall()
    bulk = BulkData(pools, anchor)

    def rng(table: str) -> random.Random:
        return table_rng(seed, table)

    n_pac, n_med = volumes["pacientes"], volumes["medicos"]
    first_convenio = max((pk for pk, _ in lookups), default=0) + 1
    new_convenios = max(volumes["convenios"] - len(lookups), 0)
    convenio_ids = [pk for pk, _ in lookups] + list(range(first_convenio, first_convenio + new_convenios))
    n_pairs = min(volumes["pacientes_convenios"], n_pac * len(convenio_ids))
    n_con = volumes["consultas"] if n_pac and n_med else 0
    n_exa = volumes["exames"] if n_pac else 0
    n_int = volumes["internacoes"] if n_pac else 0
    convenios = _convenios(HospitalData(rng("convenios"), pools, anchor), first_convenio, new_convenios)
    plan: dict[str, tuple[int, Iterator[list[str]]]] = {
        "pacientes": (n_pac, bulk.pacientes(rng("pacientes"), n_pac)),
        "medicos": (n_med, bulk.medicos(rng("medicos"), n_med)),
        "convenios": (new_convenios, _blocks(map(encode_row, convenios))),
        "pacientes_convenios": (
            n_pairs,
            bulk.pacientes_convenios(rng("pacientes_convenios"), n_pairs, n_pac, convenio_ids),
        ),
        "consultas": (n_con, bulk.consultas(rng("consultas"), n_con, n_pac, max(n_med, 1))),
        "exames": (n_exa, bulk.exames(rng("exames"), n_exa, max(n_pac, 1))),
        "internacoes": (n_int, bulk.internacoes(rng("internacoes"), n_int, max(n_pac, 1))),
    }

    billing = guias.enabled(cur)  # SCHEMA_EXTRAS=faturamento
    # Guias: one per realised consulta and per internação, read back once loaded (an estimate here).
    realised = CONSULTA_STATUS_WEIGHTS[CONSULTA_STATUS.index("realizada")] / sum(CONSULTA_STATUS_WEIGHTS)
    n_guias = (round(n_con * realised) + n_int) if billing else 0
    progress = Progress(sum(total for total, _ in plan.values()) + n_guias)
    tables = (*LOAD_ORDER, guias.TABLE) if billing else LOAD_ORDER
    deferred = defer_checks(cur, tables) if progress.seed_total >= DEFER_MIN_ROWS else None
    loaded: dict[str, int] = {}
    for table in LOAD_ORDER:
        total, blocks = plan[table]
        loaded[table] = _copy_table(cur, table, total, blocks, settings.batch_size, stop, progress)
    if billing:
        loaded[guias.TABLE] = _copy_guias(cur, rng(guias.TABLE), anchor, stop, progress)
    if deferred is not None:
        if stop.is_set():
            raise StopRequested()
        restore_checks(cur, deferred)
    for table in tables:
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"
        )
    loaded.update(sinais.seed(cur, rng("sinais_vitais"), anchor))  # SCHEMA_EXTRAS=sinais_vitais (else nothing)
    return loaded


def _copy_guias(cur: Cursor, rng: random.Random, anchor: datetime, stop: StopSignal, progress: Progress) -> int:
    """One COPY per block of guias: the origins are read with a cursor between the COPYs."""
    progress.table(guias.TABLE, guias.count_origins(cur))
    started, loaded = time.perf_counter(), 0
    for lines in guias.blocks(cur, rng, anchor):
        if stop.is_set():
            raise StopRequested()
        copy_stream(cur, guias.TABLE, guias.COLUMNS, ["".join(lines).encode()])
        loaded += len(lines)
        progress.advance(len(lines))
    _log_table(guias.TABLE, loaded, time.perf_counter() - started)
    return loaded


def _log_table(table: str, loaded: int, seconds: float) -> None:
    fields = dict(table=table, rows=loaded, seconds=round(seconds, 3), rate=round(loaded / seconds) if seconds else 0)
    logger.bind(event="seed.table", **fields).info("{table}: +{rows} rows ({seconds:.2f}s, {rate} rows/s)", **fields)


def _convenios(data: HospitalData, first_pk: int, count: int) -> Iterator[tuple]:
    index, made = 0, 0
    while made < count:
        row = data.convenio(first_pk + made, index)
        index += 1
        if row[2][:10].replace(".", "") in LOOKUP_CNPJ_ROOTS:
            continue
        made += 1
        yield row


def _blocks(lines: Iterator[str], size: int = BLOCK) -> Iterator[list[str]]:
    while block := list(islice(lines, size)):
        yield block


def rebatch(blocks: Iterator[list[str]], size: int) -> Iterator[list[str]]:
    """Regroup blocks of lines into lists of ``size`` lines (the last one may be shorter)."""
    pending: list[str] = []
    for block in blocks:
        if not pending and len(block) == size:
            yield block
            continue
        pending.extend(block)
        cut = 0
        while len(pending) - cut >= size:
            yield pending[cut : cut + size]
            cut += size
        del pending[:cut]
    if pending:
        yield pending


def _copy_table(
    cur: Cursor,
    table: str,
    total: int,
    blocks: Iterator[list[str]],
    batch_size: int,
    stop: StopSignal,
    progress: Progress,
) -> int:
    """One COPY statement fed chunk by chunk; stop is checked between chunks."""
    if stop.is_set():
        raise StopRequested()  # the transaction rolls back: no half-seeded database
    progress.table(table, total)
    started = time.perf_counter()
    loaded = 0

    def chunks() -> Iterator[bytes]:
        nonlocal loaded
        batches = rebatch(blocks, batch_size)
        while True:
            if stop.is_set():
                raise StopRequested()
            lines = next(batches, None)
            if lines is None:
                return
            loaded += len(lines)
            progress.advance(len(lines))
            yield "".join(lines).encode()

    if total:
        copy_stream(cur, table, COLUMNS[table], chunks())
    _log_table(table, loaded, time.perf_counter() - started)
    return loaded
