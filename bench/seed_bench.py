"""Seed throughput benchmark: default seed, a seed at scale, and the plain-COPY ceiling.

    .venv/bin/python bench/seed_bench.py [--scale 100] [--repeat 1] [--batch-size 5000]

Starts its own throwaway PostgreSQL (daemon.pg.cluster.LocalCluster, the server the tests use), then:

  a. seeds an empty database at the default volumes (~13.4k rows), timed;
  b. seeds another empty database at --scale (>= 75 gives >= 1M rows), timed;
  c. the ceiling on the same rows, same database, same run: dumps every table with
     ``COPY (SELECT <seed columns> FROM t ORDER BY id) TO '<file>'``, then, four times, TRUNCATEs
     the seven tables and times one transaction of seven plain COPYs (commit included):
       - ``COPY t FROM '<file>'`` (server-side files: no client, no network) with the foreign
         keys and indexes in place, checked/updated row by row;
       - ``COPY t FROM STDIN`` fed from a client-side buffer, likewise;
       - both again with the foreign keys and secondary indexes dropped first and rebuilt after
         the load, inside the transaction, exactly as the seed does from 100k rows on.

Prints a markdown table (rows, seconds, rows/s, seed/COPY ratio) and the machine; the seed's
own log lines (seed.table, seed.progress, seed.checks, seed.done) go to stderr unless --quiet.
With --repeat N, (b) and (c) run N times (a fresh database each time) and the best is reported.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import cpu_model  # noqa: E402
from loguru import logger  # noqa: E402

from daemon.catalogue import default, default_volumes  # noqa: E402
from daemon.config import PgSettings, SeedSettings  # noqa: E402
from daemon.data.rows import COLUMNS  # noqa: E402
from daemon.pg import schema
from daemon.pg.cluster import LocalCluster  # noqa: E402
from daemon.pg.connection import connect  # noqa: E402
from daemon.seed import loader
from daemon.seed.bulk_constraints import defer_checks, restore_checks  # noqa: E402


def pg_settings(cluster: LocalCluster, database: str) -> PgSettings:
    return PgSettings(
        host="127.0.0.1",
        port=cluster.port,
        user="postgres",
        password="",
        database=database,
        connect_timeout=10,
        statement_timeout_ms=0,
        application_name="seed-bench",
    )


def admin(cluster: LocalCluster, database: str = "postgres"):
    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname=database)
    conn.autocommit = True
    return conn


def fresh_database(cluster: LocalCluster, name: str) -> None:
    conn = admin(cluster)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8')
    conn.close()


def run_seed(cluster: LocalCluster, database: str, scale: float, batch_size: int) -> tuple[int, float]:
    """Bootstrap (untimed), then seed (timed, as `seed` does it: one transaction). -> (rows, seconds)"""
    fresh_database(cluster, database)
    conn = connect(pg_settings(cluster, database))
    try:
        schema.bootstrap(conn)
        settings = SeedSettings(volumes=default_volumes(), scale=scale, batch_size=batch_size, random_seed=20260101)
        started = time.perf_counter()
        loaded = loader.seed_if_empty(conn, settings)
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    assert loaded is not None
    return sum(loaded.values()), seconds


CEILINGS = (
    # (label, source, deferred)
    ("plain COPY FROM file, FKs/indexes checked per row", "file", False),
    ("plain COPY FROM STDIN, FKs/indexes checked per row", "stdin", False),
    ("plain COPY FROM file, FKs/indexes rebuilt after (as the seed)", "file", True),
    ("plain COPY FROM STDIN, FKs/indexes rebuilt after (as the seed)", "stdin", True),
)


def copy_ceiling(cluster: LocalCluster, database: str, workdir: Path) -> tuple[int, list[float]]:
    """Dump the seeded rows, then per CEILINGS entry: TRUNCATE, reload with plain COPY (timed,
    one transaction, commit included). -> (rows, seconds per CEILINGS entry)"""
    conn = admin(cluster, database)
    files = {t: workdir / f"{t}.copy" for t in loader.LOAD_ORDER}
    buffers: dict[str, bytes] = {}
    rows = 0
    with conn.cursor() as cur:
        for table in loader.LOAD_ORDER:
            cols = ", ".join(COLUMNS[table])
            cur.execute(f"COPY (SELECT {cols} FROM {table} ORDER BY id) TO '{files[table]}'")
            rows += cur.rowcount
            out = io.BytesIO()
            cur.copy_expert(f"COPY (SELECT {cols} FROM {table} ORDER BY id) TO STDOUT", out)
            buffers[table] = out.getvalue()

    def load(cur, table: str, source: str) -> None:
        cols = ", ".join(COLUMNS[table])
        if source == "file":
            cur.execute(f"COPY {table} ({cols}) FROM '{files[table]}'")  # server-side: no client, no network
        else:
            cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN", io.BytesIO(buffers[table]), size=1 << 20)

    seconds = []
    for _, source, deferred in CEILINGS:
        with conn.cursor() as cur:
            cur.execute(f"TRUNCATE {', '.join(loader.LOAD_ORDER)}")
            cur.execute("CHECKPOINT")
        conn.autocommit = False
        started = time.perf_counter()
        with conn.cursor() as cur:
            checks = defer_checks(cur, loader.LOAD_ORDER) if deferred else None
            for table in loader.LOAD_ORDER:
                load(cur, table, source)
            if checks is not None:
                restore_checks(cur, checks)
        conn.commit()
        seconds.append(time.perf_counter() - started)
        conn.autocommit = True
    conn.close()
    for f in files.values():
        f.unlink(missing_ok=True)
    return rows, seconds


def machine(cluster: LocalCluster) -> dict[str, str]:
    model = cpu_model()
    conn = admin(cluster)
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        (version,) = cur.fetchone()
    conn.close()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "postgresql": version,
        "python": platform.python_version(),
        "os": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=100.0, help="SEED_SCALE of the large seed (default 100)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the large seed and the ceiling (best kept)")
    parser.add_argument("--batch-size", type=int, default=default("BATCH_SIZE"), help="BATCH_SIZE of the seeds")
    parser.add_argument("--quiet", action="store_true", help="hide the seed's own log lines")
    parser.add_argument(
        "--durable", action="store_true", help="fsync/synchronous_commit on (default: off, as in the tests)"
    )
    args = parser.parse_args()

    logger.remove()
    if not args.quiet:
        logger.add(sys.stderr, level="INFO", format="{time:HH:mm:ss.SSS} [{extra[event]}] {message}")

    root = Path(tempfile.mkdtemp(prefix="hsim-bench-"))
    root.chmod(0o755)  # the unprivileged server user must traverse it
    cluster = (LocalCluster(root / "pg", durable=True) if args.durable else LocalCluster(root / "pg")).ensure_started()
    try:
        info = machine(cluster)
        print(f"# PostgreSQL {info['postgresql']} on 127.0.0.1:{cluster.port} ({root})", file=sys.stderr)
        d_rows, d_sec = run_seed(cluster, "bench_default", 1.0, args.batch_size)
        big: list[tuple[int, float]] = []
        ceiling: list[list[float]] = []
        c_rows = 0
        for i in range(args.repeat):
            big.append(run_seed(cluster, "bench_scale", args.scale, args.batch_size))
            c_rows, seconds = copy_ceiling(cluster, "bench_scale", cluster.root)
            ceiling.append(seconds)
            print(
                f"# run {i + 1}: seed {big[-1][1]:.2f}s; COPY " + ", ".join(f"{s:.2f}s" for s in seconds),
                file=sys.stderr,
            )
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)

    s_rows, s_sec = min(big, key=lambda r: r[1])
    seed_rate = s_rows / s_sec
    best = f" (best of {args.repeat})" if args.repeat > 1 else ""

    def row(name: str, rows: int, sec: float, ratio: str) -> str:
        return f"| {name} | {rows:,} | {sec:.2f} | {rows / sec:,.0f} | {ratio} |"

    print()
    print("| run | rows | seconds | rows/s | seed / this |")
    print("|---|---:|---:|---:|---:|")
    print(row("seed, default volumes (scale 1)", d_rows, d_sec, "—"))
    print(row(f"seed, scale {args.scale:g}{best}", s_rows, s_sec, "1.00"))
    for k, (label, _, _) in enumerate(CEILINGS):
        sec = min(c[k] for c in ceiling)
        print(row(f"{label}, same rows{best}", c_rows, sec, f"{seed_rate / (c_rows / sec):.2f}"))
    if args.repeat > 1:
        print()
        print(
            f"all runs, seed rows/s: {', '.join(f'{s_rows / s:,.0f}' for _, s in big)} "
            f"(median {statistics.median(s_rows / s for _, s in big):,.0f})"
        )
    print()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}; PostgreSQL {info['postgresql']}; Python {info['python']}")
    print(
        f"         {info['os']}; {info['date']}; batch size {args.batch_size}; "
        f"{'durable (fsync on)' if args.durable else 'fsync off (LocalCluster default)'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
