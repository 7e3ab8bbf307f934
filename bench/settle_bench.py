"""What settling an event whose reply was lost costs: the writer's mark against the alternatives.

An event is one transaction. When the connection drops before its reply arrives, the writer must
still know whether it committed, or the ledger would miss or invent a change. Three ways to
write the same events (the insert-only mix: the daemon's own statements, drawn by its mix from
its generators), one connection, durable:

1. ``mark`` (what the daemon does): each event one message, its statement plus the upsert of the
   writer's row in ``hospital_sim_writers``, then Sync; 3 messages in flight (``PIPELINE_DEPTH``).
   After a loss the writer reads its rows: exact.
2. ``txid before COMMIT`` (the issue's other way out): each message commits the previous event
   and runs the next one, ``COMMIT; BEGIN; <statement> RETURNING id, txid_current()``, then Sync.
   The txid of every event not yet committed is known, so ``txid_status()`` settles a loss: exact.
   But the COMMIT may only be sent once the txid is back: one event in flight, the round trip
   and the client's turn between every two events.
3. ``no mark`` (a bound, not a design): the statement alone, 3 in flight. An event whose reply
   is lost cannot be settled.

Each is reported as a ratio to pgbench's one-row INSERT (``-M simple``, the issue's ceiling)
measured in the same run; the measures alternate in rounds (this machine is noisy) and each
ratio is the sum over the rounds. A measure also reports the rows the seven tables gained per
event (counted, not from the statistics, which an idle session flushes up to 10 s late): 1.00
when a design committed every insert it counted (an enrolment finding no free convênio adds 0).

``python bench/settle_bench.py`` (about 2 minutes; ``--rounds``, ``--seconds``).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from common import (
    LocalCluster,
    Measure,
    StreamerRun,
    cluster,
    commit_sync_us,
    insert_ceiling,
    load_config_for,
    machine,
    psql,
    seed,
    timed,
)
from loguru import logger

from daemon.pg import pipeline
from daemon.pg.pipeline import Pipeline, Reply
from daemon.pg.tables import TABLES
from daemon.signals import StopSignal
from daemon.stream.flights import PIPELINE_DEPTH
from daemon.stream.kinds.base import Statement
from daemon.stream.streamer import Streamer

Run = Callable[[float], tuple[int, float]]


def unmarked(statement: Statement) -> str:
    """The event's statement as the daemon composes it (``daemon.stream.message.compose``: the
    change in a CTE, its id and ``txid_current()`` returned) without the writer's mark."""
    ctes = f"{statement.ctes}, " if statement.ctes else ""
    return f"WITH {ctes}change AS ({statement.body}) SELECT id, txid_current() FROM change"


class Events:
    """Insert-only events drawn as the daemon draws them (its mix, its generators)."""

    def __init__(self, streamer: Streamer, seed: int = 1) -> None:
        self.ctx = streamer.writers[0].ctx
        shares = streamer.mix.kind_shares()
        self.kinds = [kind for kind, _ in shares]
        self.weights = [share for _, share in shares]
        self.rng = random.Random(seed)

    def next(self) -> Statement:
        while True:
            statement = self.rng.choices(self.kinds, self.weights)[0].build(self.ctx)
            if statement is not None:
                return statement


def rows(c: LocalCluster) -> int:
    """Rows in the seven tables."""
    return int(psql(c, "SELECT " + " + ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)))


def checked(reply: Reply) -> Reply:
    if reply.error is not None:
        raise RuntimeError(f"an event failed: {reply.error}")
    return reply


def unmarked_run(session: Pipeline, events: Events) -> Run:
    """Design 3: the statements without the mark, ``PIPELINE_DEPTH`` in flight."""

    def run(seconds: float) -> tuple[int, float]:
        events.ctx.refresh_clock()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            while session.in_flight < PIPELINE_DEPTH:
                statement = events.next()
                session.send([unmarked(statement)], statement.params)
            checked(session.receive())
            done += 1
        while session.in_flight:
            checked(session.receive())
            done += 1
        return done, time.perf_counter() - start

    return run


def txid_first_run(session: Pipeline, events: Events) -> Run:
    """Design 2: ``COMMIT`` (of the previous event) ``; BEGIN; <statement>`` per message, the
    next message sent once this one's txid is back: one event in flight."""

    def send(commit: bool) -> None:
        statement = events.next()
        texts: Sequence[str] = ("COMMIT", "BEGIN", unmarked(statement)) if commit else ("BEGIN", unmarked(statement))
        session.send(texts, statement.params)

    def run(seconds: float) -> tuple[int, float]:
        events.ctx.refresh_clock()
        done, start = 0, time.perf_counter()
        send(commit=False)
        while time.perf_counter() - start < seconds:
            reply = checked(session.receive())
            if not reply.rows:  # the event's id and txid: what txid_status() would settle it with
                raise RuntimeError("an event returned no txid")
            send(commit=True)  # commits the event just run, runs the next
            done += 1
        checked(session.receive())
        session.send(["COMMIT"], {})
        checked(session.receive())
        done += 1
        return done, time.perf_counter() - start

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per measure (default 4)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measure and round (default 5)")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    work = Path(tempfile.mkdtemp(prefix="hsim-settle-bench-"))
    try:
        with cluster() as c:
            seed(c)
            sync = commit_sync_us(c.root)
            config = load_config_for(c, STREAM_OP_WEIGHTS="insert=1")
            streamer = Streamer(config, StopSignal())
            streamer.prepare()
            events = Events(streamer)
            sessions = [Pipeline(pipeline.connect(config.pg, "settle-bench")) for _ in range(2)]
            plan: list[tuple[str, Run]] = [
                ("ceiling", lambda s: (round(insert_ceiling(c, s, work) * s), s)),
                ("mark", StreamerRun(streamer, warm_up=False)),  # every event counted as a row
                ("txid", txid_first_run(sessions[0], events)),
                ("unmarked", unmarked_run(sessions[1], events)),
            ]
            m: dict[str, Measure] = defaultdict(Measure)
            for r in range(args.rounds):
                for name, run in plan if r % 2 == 0 else plan[::-1]:
                    timed(c, m[name], args.seconds, run, count=rows)
                    print(f"round {r + 1}: {name} {m[name].rates[-1]:.0f}/s", file=sys.stderr)
            for session in sessions:
                session.close()
            streamer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"### {datetime.now(UTC):%Y-%m-%d}, {machine(sync)}\n")
    print(f"{args.rounds} alternating rounds of {args.seconds:g} s, durable, one connection, insert-only mix.\n")
    print(
        "| design | settles a lost reply | events in flight | events/s (rows/event) | server CPU µs/event "
        "| ratio to 1-row INSERT |"
    )
    print("|---|---|---:|---|---:|---:|")
    ceiling = m["ceiling"]
    designs = (
        ("the writer's mark (the daemon)", "exactly (the writer's rows)", PIPELINE_DEPTH, "mark"),
        ("txid before COMMIT", "exactly (`txid_status`)", 1, "txid"),
        ("no mark (a bound)", "no", PIPELINE_DEPTH, "unmarked"),
    )
    for label, settles, depth, name in designs:
        measure = m[name]
        changes = sum(measure.changes) / len(measure.changes)
        print(
            f"| {label} | {settles} | {depth} | {measure.rate:,.0f} ({changes:.2f}) | {measure.server_us:.0f} "
            f"| {measure.ratio(ceiling):.2f} |"
        )
    print(f"| pgbench 1-row INSERT, `-M simple` | | 1 | {ceiling.rate:,.0f} | {ceiling.server_us:.0f} | 1.00 |")


if __name__ == "__main__":
    main()
