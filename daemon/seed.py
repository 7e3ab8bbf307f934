"""Initial load: the seven tables filled in one transaction with COPY, only when they are empty."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from loguru import logger

from daemon import sqlfiles
from daemon.config import SeedSettings
from daemon.copyio import copy_rows
from daemon.database import Connection, transaction
from daemon.errors import StopRequested
from daemon.generators import COLUMNS, HospitalData, Pools
from daemon.schema import lock
from daemon.signals import StopSignal

LOOKUP_CNPJ_ROOTS = {"00394544", "11222333"}  # SUS, SaudePlus (sql/03_seed_lookups.sql)
LOAD_ORDER = ("pacientes", "medicos", "convenios", "pacientes_convenios", "consultas", "exames", "internacoes")


def table_rng(seed: int, table: str) -> random.Random:
    """An independent, reproducible stream of randomness per table."""
    return random.Random(f"{seed}:{table}")


def seed_state(cur) -> tuple[str, list[str]]:
    """('empty' | 'seeded' | 'partial', tables that have rows) over the six non-lookup tables."""
    cur.execute(sqlfiles.load("is_seeded"))
    rows = cur.fetchall()
    filled = [table for table, has_rows in rows if has_rows]
    if not filled:
        return "empty", filled
    return ("seeded" if len(filled) == len(rows) else "partial"), filled


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
            log = logger.bind(event="seed.skipped", state=state, tables=filled)
            if state == "partial":
                log.warning(
                    "seed skipped: only some tables have rows ({tables}); not touching a "
                    "partially filled database (run `reset` to start over)",
                    tables=", ".join(filled),
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
    logger.bind(event="seed.done", rows=total, seconds=round(elapsed, 3), tables=loaded).info(
        "seed committed: {rows} rows in {seconds:.2f}s ({rate:.0f} rows/s)",
        rows=total,
        seconds=elapsed,
        rate=total / elapsed if elapsed else 0.0,
    )
    return loaded


def _load(cur, settings: SeedSettings, seed: int, anchor: datetime, stop: StopSignal) -> dict[str, int]:
    volumes = settings.scaled()
    pools = Pools.build(seed)
    cur.execute("SELECT id, cnpj FROM convenios ORDER BY id")
    lookups = cur.fetchall()
    loaded: dict[str, int] = {}

    def data(table: str) -> HospitalData:
        return HospitalData(table_rng(seed, table), pools, anchor)

    n_pac, n_med = volumes["pacientes"], volumes["medicos"]
    plan: dict[str, Iterator[tuple]] = {
        "pacientes": (d.paciente(pk) for d in [data("pacientes")] for pk in range(1, n_pac + 1)),
        "medicos": (d.medico(pk) for d in [data("medicos")] for pk in range(1, n_med + 1)),
    }
    first_convenio = max((pk for pk, _ in lookups), default=0) + 1
    new_convenios = max(volumes["convenios"] - len(lookups), 0)
    plan["convenios"] = _convenios(data("convenios"), first_convenio, new_convenios)
    convenio_ids = [pk for pk, _ in lookups] + list(range(first_convenio, first_convenio + new_convenios))

    d_pc = data("pacientes_convenios")
    n_pairs = min(volumes["pacientes_convenios"], n_pac * len(convenio_ids))
    plan["pacientes_convenios"] = (
        (
            (
                i + 1,
                pair // len(convenio_ids) + 1,
                convenio_ids[pair % len(convenio_ids)],
                *d_pc.carteira(pair // len(convenio_ids) + 1, convenio_ids[pair % len(convenio_ids)]),
            )
            for i, pair in enumerate(sorted(d_pc.rng.sample(range(n_pac * len(convenio_ids)), n_pairs)))
        )
        if n_pairs
        else iter(())
    )
    d_con, d_exa, d_int = data("consultas"), data("exames"), data("internacoes")
    plan["consultas"] = (
        (
            d_con.consulta(pk, d_con.rng.randint(1, n_pac), d_con.rng.randint(1, n_med))
            for pk in range(1, volumes["consultas"] + 1)
        )
        if n_pac and n_med
        else iter(())
    )
    plan["exames"] = (
        (d_exa.exame(pk, d_exa.rng.randint(1, n_pac)) for pk in range(1, volumes["exames"] + 1)) if n_pac else iter(())
    )
    plan["internacoes"] = (
        (d_int.internacao(pk, d_int.rng.randint(1, n_pac)) for pk in range(1, volumes["internacoes"] + 1))
        if n_pac
        else iter(())
    )

    for table in LOAD_ORDER:
        loaded[table] = _copy_table(cur, table, plan[table], settings.batch_size, stop)
    for table in LOAD_ORDER:
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"
        )
    return loaded


def _convenios(data: HospitalData, first_pk: int, count: int) -> Iterator[tuple]:
    index, made = 0, 0
    while made < count:
        row = data.convenio(first_pk + made, index)
        index += 1
        if row[2][:10].replace(".", "") in LOOKUP_CNPJ_ROOTS:
            continue
        made += 1
        yield row


def _copy_table(cur, table: str, rows: Iterator[tuple], batch_size: int, stop: StopSignal) -> int:
    total = 0
    started = time.perf_counter()
    while True:
        if stop.is_set():
            raise StopRequested()  # the transaction rolls back: no half-seeded database
        chunk = [row for _, row in zip(range(batch_size), rows)]
        if not chunk:
            break
        copy_rows(cur, table, COLUMNS[table], chunk)
        total += len(chunk)
    logger.bind(event="seed.table", table=table, rows=total).info(
        "{table}: +{rows} rows ({seconds:.2f}s)", table=table, rows=total, seconds=time.perf_counter() - started
    )
    return total
