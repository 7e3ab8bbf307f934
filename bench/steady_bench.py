"""Steady-state benchmark: does a long full-speed stream hold its mix, its backlogs and its speed?

    .venv/bin/python bench/steady_bench.py [--events 500000] [--durable]

Seeds a throwaway cluster with the defaults (RANDOM_SEED=1), then runs the in-process
``Streamer`` (default mix, one writer) at full speed for ``--events`` events, in batches of
``run_events``. Reports, each with PASS/FAIL:

- the realized share of every kind (``stats.kinds``) against its configured share
  (``mix.kind_shares()``): within ±2 percentage points;
- "nothing to do" (``stats.fallbacks`` + ``failures["nothing_to_do"]``) in % of events: < 1 %;
- every open lifecycle (``Backlog``) at start and at the end, as counted in memory and recounted
  in the database (``sql/backlog_counts.sql``): none below 10 % of its start;
- events/s over the first and the last 10 % of the events: last >= 0.9 x first.

fsync is off unless ``--durable`` (the run is about drift, not commit latency; 500k events take
about 10 minutes here). Exits 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from common import cluster, load_config_for, machine, seed, server_settings, verdict
from loguru import logger

from daemon.pg import sqlfiles
from daemon.signals import StopSignal
from daemon.stream.backlog import BACKLOGS
from daemon.stream.streamer import Streamer

BATCH = 1000
VACUUMS = (
    "SELECT relname, autovacuum_count, n_dead_tup FROM pg_stat_user_tables "
    "WHERE relname IN ('consultas', 'exames', 'internacoes', 'pacientes_convenios') ORDER BY relname"
)


def rate_between(marks: list[tuple[int, float]], lo: int, hi: int) -> float:
    """events/s between the batch marks nearest to event ``lo`` and event ``hi``."""
    start = min(marks, key=lambda m: abs(m[0] - lo))
    end = min(marks, key=lambda m: abs(m[0] - hi))
    return (end[0] - start[0]) / (end[1] - start[1])


def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--durable", action="store_true", help="fsync and synchronous_commit on")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a server setting")
    args = parser.parse_args()
    with cluster(durable=args.durable, settings=server_settings(args.set)) as c:
        seeded = seed(c)
        streamer = Streamer(load_config_for(c), StopSignal())
        streamer.prepare()
        marks: list[tuple[int, float]] = [(0, time.perf_counter())]
        cpu: list[float] = [time.process_time()]  # the daemon's own CPU time at each mark
        done = 0
        while done < args.events:
            done += streamer.run_events(min(BATCH, args.events - done))
            marks.append((done, time.perf_counter()))
            cpu.append(time.process_time())
            if len(marks) % 50 == 0:
                print(f"{done} events, backlog {streamer.backlog.size}", file=sys.stderr)
        conn = streamer.maintenance.connection()
        with conn.cursor() as cur:
            cur.execute(sqlfiles.load("backlog_counts"))
            recount = dict(zip(BACKLOGS, cur.fetchone()))
            cur.execute(VACUUMS)
            vacuums = cur.fetchall()
        stats, backlog, shares = streamer.stats, streamer.backlog, streamer.mix.kind_shares()
        streamer.close()

    elapsed = marks[-1][1] - marks[0][1]
    tenth = done // 10
    first, last = rate_between(marks, 0, tenth), rate_between(marks, done - tenth, done)
    committed = sum(stats.kinds.values())
    nothing = sum(stats.fallbacks.values()) + stats.failures["nothing_to_do"]
    print(f"# Steady-state benchmark, {datetime.now(UTC):%Y-%m-%d}\n\nmachine: {machine()}\n")
    if args.set:
        print(f"server settings: {', '.join(args.set)}\n")
    print(
        f"Default seed ({seeded:.1f} s), default mix, 1 writer, full speed, fsync {'on' if args.durable else 'off'}: "
        f"{done:,} events committed in {elapsed:.0f} s ({done / elapsed:.0f}/s); failures {dict(stats.failures)}.\n"
    )
    print("| kind | configured | realized | difference (pp) | target ±2 pp |\n|---|---:|---:|---:|---|")
    for kind, share in shares:
        realized = stats.kinds[kind.name] / committed
        diff = 100 * (realized - share)
        print(
            f"| {kind.op} {kind.name} | {100 * share:.2f} % | {100 * realized:.2f} % | {diff:+.2f} | "
            f"{verdict(abs(diff) <= 2)} |"
        )
    print(
        f"\n'Nothing to do' draws: {nothing:,} ({100 * nothing / done:.3f} % of events; fallbacks "
        f"{dict(stats.fallbacks)}) — target < 1 % {verdict(nothing < 0.01 * done)}\n"
    )
    print(
        "| backlog | start | end (in memory) | end (database) | end / start | target ≥ 10 % |\n"
        "|---|---:|---:|---:|---:|---|"
    )
    for name in BACKLOGS:
        start, end = backlog.start[name], backlog.size[name]
        share = f"{end / start:.2f}" if start else "—"
        print(
            f"| {name} | {start:,} | {end:,} | {recount[name]:,} | {share} | "
            f"{verdict(min(end, recount[name]) >= 0.1 * start)} |"
        )
    print(
        f"\nevents/s, first 10 % of the run: {first:.0f}; last 10 %: {last:.0f}; last / first {last / first:.2f} — "
        f"target ≥ 0.9 {verdict(last >= 0.9 * first)}"
    )
    deciles = [rate_between(marks, i * tenth, (i + 1) * tenth) for i in range(10)]
    print("events/s by tenth of the run: " + ", ".join(f"{r:.0f}" for r in deciles))
    at = [min(range(len(marks)), key=lambda m: abs(marks[m][0] - i * tenth)) for i in range(11)]
    client = [1e6 * (cpu[b] - cpu[a]) / (marks[b][0] - marks[a][0]) for a, b in zip(at, at[1:], strict=False)]
    print("the daemon's CPU µs per event by tenth: " + ", ".join(f"{u:.0f}" for u in client))
    print(
        "autovacuum passes (dead rows left) during the run: "
        + ", ".join(f"{name} {count} ({dead:,})" for name, count, dead in vacuums)
    )


if __name__ == "__main__":
    main()
