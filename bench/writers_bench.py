"""Writers as threads or as processes: does the GIL hold ``STREAM_WRITERS`` back?

The daemon's writers are threads of one process, each with its own pipelined session; libpq
waits without the GIL, but building events, encoding and recording them holds it. The issue's
question: once round trips are gone, would writers run faster as processes? Measured here at
full speed, durable, on the default seed, alternating in rounds:

- ``threads``: one ``Streamer`` with ``STREAM_WRITERS=N`` (what the daemon runs);
- ``processes``: N processes started together (spawned, each its own ``Streamer`` with one
  writer, released by one barrier once all are ready), their events summed.

Each is reported in events/s and server CPU per event (every PostgreSQL process, as in
``stream_bench.py``); the ratio processes ÷ threads is the sum over the rounds.

``python bench/writers_bench.py`` (about 2 minutes; ``--writers``, ``--rounds``, ``--seconds``,
``--mix``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import Any

from common import LocalCluster, Measure, cluster, load_config_for, machine, seed, server_cpu, streamer_run
from loguru import logger

from daemon.signals import StopSignal
from daemon.stream.streamer import Streamer

DEFAULT_MIX = "insert=44,update=69,delete=8.65,episode=10"
WARM_UP_EVENTS = 100  # each writer process's, before the barrier (committed, not counted)


def writer_process(env: dict[str, str], seconds: float, results: Any, ready: Any) -> None:
    """One writer in a process of its own: ready, then ``seconds`` at full speed; puts its events."""
    logger.remove()
    os.environ.update({"HTTP_PORT": "0", **env})
    from daemon.config import load_config

    streamer = Streamer(load_config(dotenv=None), StopSignal())
    try:
        streamer.prepare()
        streamer.run_events(WARM_UP_EVENTS)  # the session open and its statements prepared before the start
        ready.wait()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            done += streamer.run_events(100)
        results.put(done)
    finally:
        streamer.close()


def processes_run(c: LocalCluster, env: dict[str, str], writers: int):
    """A run of ``writers`` writer processes at once (the daemon's settings from ``env``), recorded
    in ``measure``: their events over the measured window, and the server's CPU in that window
    only (not the processes' start-up)."""
    context = get_context("spawn")
    seeds = itertools.count(1000)  # a RANDOM_SEED of its own for every writer of every round

    def run(seconds: float, measure: Measure) -> None:
        results, ready = context.Queue(), context.Barrier(writers + 1)
        procs = [
            context.Process(
                target=writer_process,
                args=({**env, "RANDOM_SEED": str(next(seeds))}, seconds, results, ready),
            )
            for _ in range(writers)
        ]
        for p in procs:
            p.start()
        ready.wait(timeout=120)
        server, start = server_cpu(c), time.perf_counter()
        events = sum(results.get(timeout=seconds + 120) for _ in procs)
        elapsed = time.perf_counter() - start
        measure.server_seconds += server_cpu(c) - server
        for p in procs:
            p.join(timeout=60)
            if p.exitcode != 0:
                raise RuntimeError(f"a writer process failed (exit code {p.exitcode})")
        measure.events += events
        measure.rates.append(events / elapsed)

    return run


def threads_run(c: LocalCluster, streamer: Streamer):
    """A run of ``streamer`` (its writers threads), recorded in ``measure`` like :func:`processes_run`."""
    run_for = streamer_run(streamer)

    def run(seconds: float, measure: Measure) -> None:
        server = server_cpu(c)
        events, elapsed = run_for(seconds)
        measure.server_seconds += server_cpu(c) - server
        measure.events += events
        measure.rates.append(events / elapsed)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=4, help="writers (threads, or processes) (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per measure (default 3)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per measure and round (default 8)")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"STREAM_OP_WEIGHTS (default {DEFAULT_MIX})")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    with cluster() as c:
        seed(c)
        streamer = Streamer(
            load_config_for(c, STREAM_WRITERS=str(args.writers), STREAM_OP_WEIGHTS=args.mix), StopSignal()
        )
        streamer.prepare()
        plan = [
            ("threads", threads_run(c, streamer)),
            ("processes", processes_run(c, {**c.env("postgres"), "STREAM_OP_WEIGHTS": args.mix}, args.writers)),
        ]
        m: dict[str, Measure] = defaultdict(Measure)
        try:
            for r in range(args.rounds):
                for name, run in plan if r % 2 == 0 else plan[::-1]:
                    run(args.seconds, m[name])
                    print(f"round {r + 1}: {name} {m[name].rates[-1]:.0f}/s", file=sys.stderr)
        finally:
            streamer.close()
    print(f"### {datetime.now(UTC):%Y-%m-%d}, {machine()}\n")
    print(
        f"{args.writers} writers, {args.rounds} alternating rounds of {args.seconds:g} s, durable, default seed, "
        f"STREAM_OP_WEIGHTS={args.mix}.\n"
    )
    print("| writers as | events/s by round | events/s | server CPU µs/event | ratio to threads |")
    print("|---|---|---:|---:|---:|")
    for name in ("threads", "processes"):
        rates = ", ".join(f"{r:,.0f}" for r in m[name].rates)
        ratio = m[name].ratio(m["threads"])
        print(f"| {name} | {rates} | {m[name].rate:,.0f} | {m[name].server_us:.0f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
