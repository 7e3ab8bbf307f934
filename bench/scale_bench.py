"""Scale benchmark: the full-speed stream on a database seeded at SEED_SCALE=100 vs the default seed.

    .venv/bin/python bench/scale_bench.py [--scale 100] [--rounds 3] [--seconds 15] [--durable]

One throwaway cluster, two databases: ``scale1`` seeded with the defaults and ``scaleN`` seeded
at ``--scale`` (both RANDOM_SEED=1; each seed is timed and printed). Then the in-process
``Streamer`` (default mix, one writer) runs at full speed on each in turn, ``--rounds`` times
(alternating, since this machine is noisy); the ratio is scaleN / scale1 over the summed rounds,
target >= 0.9. fsync is off unless ``--durable``: an fsync per commit would hide the server's
own cost, which is what could grow with the data. Exits 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from common import cluster, load_config_for, machine, psql, seed, verdict
from loguru import logger

from daemon.signals import StopSignal
from daemon.stream.streamer import Streamer

TABLES = ("pacientes", "medicos", "convenios", "pacientes_convenios", "consultas", "exames", "internacoes")


def rows(c, database: str) -> int:
    return int(psql(c, " + ".join(f"(SELECT count(*) FROM {t})" for t in TABLES).join(("SELECT ", "")), database))


def run(streamer: Streamer, seconds: float) -> float:
    streamer.run_events(100)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += streamer.run_events(100)
    return done / (time.perf_counter() - start)


def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--durable", action="store_true", help="fsync and synchronous_commit on")
    args = parser.parse_args()
    big = f"scale{args.scale:g}".replace(".", "_")
    with cluster(durable=args.durable) as c:
        seeded = {"scale1": seed(c, "scale1"), big: seed(c, big, SEED_SCALE=f"{args.scale:g}")}
        counts = {db: rows(c, db) for db in seeded}
        streamers = {db: Streamer(load_config_for(c, db), StopSignal()) for db in seeded}
        for streamer in streamers.values():
            streamer.prepare()
        rates: dict[str, list[float]] = {db: [] for db in seeded}
        for r in range(args.rounds):
            for db in list(seeded) if r % 2 == 0 else list(seeded)[::-1]:
                rates[db].append(run(streamers[db], args.seconds))
                print(f"round {r + 1}: {db} {rates[db][-1]:.0f} events/s", file=sys.stderr)
        for streamer in streamers.values():
            streamer.close()
    ratio = sum(rates[big]) / sum(rates["scale1"])
    print(f"# Scale benchmark, {datetime.now(UTC):%Y-%m-%d}\n\nmachine: {machine()}\n")
    print(
        f"Default mix, 1 writer, full speed, fsync {'on' if args.durable else 'off'}, {args.rounds} alternating "
        f"rounds of {args.seconds:g} s.\n"
    )
    print("| database | rows seeded | seed time | events/s by round | mean |\n|---|---:|---:|---|---:|")
    for db in seeded:
        by_round = ", ".join(f"{x:.0f}" for x in rates[db])
        print(f"| {db} | {counts[db]:,} | {seeded[db]:.1f} s | {by_round} | {sum(rates[db]) / len(rates[db]):.0f} |")
    print(f"\nscale {args.scale:g} / default: {ratio:.2f} — target ≥ 0.9 {verdict(ratio >= 0.9)}")


if __name__ == "__main__":
    main()
