"""Writers as threads or as processes: does the GIL hold ``STREAM_WRITERS`` back?

The daemon's writers are threads of one process, each with its own pipelined session; libpq
waits without the GIL, but building events, encoding and recording them holds it. The issue's
question: once round trips are gone, would writers run faster as processes? Measured here at
full speed, durable, on the default seed, alternating in rounds:

- ``threads``: one ``Streamer`` with ``STREAM_WRITERS=N`` (what the daemon runs);
- ``processes``: N processes started together (spawned, each its own ``Streamer`` with one
  writer and only the settings given, released by one barrier once all are ready, and closing
  their sessions only after the parent's last reading), their events summed.

Each is reported in events/s and CPU per event over the measured window only: the server's (every
PostgreSQL process, as in ``stream_bench.py``) and the client's (the threads' process, or the
writer processes' own); the ratio processes ÷ threads is the sum over the rounds.

``python bench/writers_bench.py`` (about 2 minutes; ``--writers``, ``--rounds``, ``--seconds``,
``--mix``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import queue
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import Any

from common import (
    LocalCluster,
    Measure,
    StreamerRun,
    cluster,
    commit_sync_us,
    daemon_env,
    load_config_for,
    machine,
    seed,
    server_cpu,
    timed,
)
from loguru import logger

from daemon.catalogue import variable
from daemon.signals import StopSignal
from daemon.stream.streamer import Streamer

DEFAULT_MIX = variable("STREAM_OP_WEIGHTS").default_text  # the daemon's own default
WARM_UP_EVENTS = 100  # each writer process's, before the barrier (committed, not counted)
STEP_TIMEOUT = 120.0  # seconds a step (start-up and warm-up, say) may take before the run is given up


def writer_process(env: dict[str, str], seconds: float, ready: Any, go: Any, results: Any, finish: Any) -> None:
    """One writer in a process of its own, in step with the parent: says it is ``ready`` (session
    open, statements prepared), waits for ``go``, runs ``seconds`` at full speed, puts its events
    and CPU seconds in ``results``, and closes its session once the parent says ``finish`` (after
    its last reading of the server's CPU)."""
    logger.remove()
    os.environ.clear()  # only the settings given (``daemon_env``), not the shell's
    os.environ.update(env)
    from daemon.config import load_config

    streamer = Streamer(load_config(dotenv=None), StopSignal())
    try:
        streamer.prepare()
        streamer.run_events(WARM_UP_EVENTS)
        ready.put(os.getpid())
        if not go.wait(STEP_TIMEOUT):
            raise SystemExit("writers_bench: no start signal from the parent")
        cpu = os.times()
        done, _ = StreamerRun(streamer, warm_up=False)(seconds)
        used = os.times()
        results.put((done, used.user + used.system - cpu.user - cpu.system))
        finish.wait(STEP_TIMEOUT + seconds)
    finally:
        streamer.close()


def processes_run(c: LocalCluster, env: dict[str, str], writers: int):
    """A run of ``writers`` writer processes at once (the daemon's settings from ``env``), recorded
    in ``measure``: their events, and the server's and their own CPU, over the measured window
    only (not the processes' start-up, warm-up or exit). A process that ends early stops the run
    at once, naming its exit code, and the others are ended."""
    context = get_context("spawn")
    seeds = itertools.count(1000)  # a RANDOM_SEED of its own for every writer of every round
    env = daemon_env(c, **env, STREAM_WRITERS="1")

    def run(seconds: float, measure: Measure) -> None:
        ready, results = context.Queue(), context.Queue()
        go, finish = context.Event(), context.Event()
        procs = [
            context.Process(
                target=writer_process,
                args=({**env, "RANDOM_SEED": str(next(seeds))}, seconds, ready, go, results, finish),
            )
            for _ in range(writers)
        ]
        try:
            for p in procs:
                p.start()
            _collect(ready, procs, STEP_TIMEOUT, "get ready")
            server, start = server_cpu(c), time.perf_counter()
            go.set()
            got = _collect(results, procs, seconds + STEP_TIMEOUT, "finish")
            elapsed = time.perf_counter() - start
            measure.server_seconds += server_cpu(c) - server
            finish.set()
            for p in procs:
                p.join(timeout=STEP_TIMEOUT)
                if p.exitcode != 0:
                    raise RuntimeError(f"a writer process ended with exit code {p.exitcode}")
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                    p.join()
        events = sum(done for done, _ in got)
        measure.events += events
        measure.client_seconds += sum(cpu for _, cpu in got)
        measure.rates.append(events / elapsed)

    return run


def _collect(messages: Any, procs: list[Any], timeout: float, what: str) -> list[Any]:
    """One message from each process; RuntimeError as soon as one has ended without sending its own."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < len(procs):
        try:
            got.append(messages.get(timeout=0.2))
        except queue.Empty:
            ended = [p.exitcode for p in procs if p.exitcode is not None]
            if ended or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(procs) - len(got)} of {len(procs)} writer processes did not {what} "
                    f"(exit codes of those that ended: {ended or 'none'})"
                ) from None
    return got


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
        sync = commit_sync_us(c.root)
        streamer = Streamer(
            load_config_for(c, STREAM_WRITERS=str(args.writers), STREAM_OP_WEIGHTS=args.mix), StopSignal()
        )
        streamer.prepare()
        threads = StreamerRun(streamer)
        plan = [
            ("threads", lambda seconds, measure: timed(c, measure, seconds, threads)),
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
    print(f"### {datetime.now(UTC):%Y-%m-%d}, {machine(sync)}\n")
    print(
        f"{args.writers} writers, {args.rounds} alternating rounds of {args.seconds:g} s, durable, default seed, "
        f"STREAM_OP_WEIGHTS={args.mix}.\n"
    )
    print("| writers as | events/s by round | events/s | server / client CPU µs/event | ratio to threads |")
    print("|---|---|---:|---:|---:|")
    for name in ("threads", "processes"):
        rates = ", ".join(f"{r:,.0f}" for r in m[name].rates)
        cpu = f"{m[name].server_us:.0f} / {m[name].client_us:.0f}"
        print(f"| {name} | {rates} | {m[name].rate:,.0f} | {cpu} | {m[name].ratio(m['threads']):.2f} |")


if __name__ == "__main__":
    main()
