"""Stream benchmark: speed as ratios to ceilings measured in the same run, on the same database.

1. Maximum events/s of the in-process ``Streamer`` (one event = one message, one transaction, up
   to ``PIPELINE_DEPTH`` in flight) against pgbench replaying the daemon's own statements
   (``bench/replay.py``: the same kinds, built by the same code, composed with the writer's mark,
   ``-M prepared``, ``PIPELINE_DEPTH`` events per pipeline, each its own transaction) on 1
   connection (default mix, insert-only) and on 4 (``STREAM_WRITERS=4`` vs ``pgbench -c 4``); and
   against pgbench's one-row INSERT on one connection (the plain ceiling; also pipelined). The measures
   alternate in rounds (this machine is noisy); each ratio is the sum over the rounds.
2. Rate accuracy of STREAM_RATE at 1, 100 and 1,000 events/s (committed/target over a minute).
3. RSS of the daemon after 1 and 10 minutes at 100 events/s.

`python bench/stream_bench.py` (about 20 minutes; `--quick` for a 4-minute version,
`--speed-only` to skip 2 and 3).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from common import (
    Measure,
    StreamerRun,
    cluster,
    commit_sync_us,
    daemon_env,
    insert_ceiling,
    ledger,
    load_config_for,
    machine,
    pgbench,
    psql,
    rss_mb,
    seed,
    start_daemon,
    timed,
    verdict,
)
from loguru import logger
from replay import PIPELINE, Scripts, render

from daemon.pg import sqlfiles
from daemon.signals import StopSignal
from daemon.stream.streamer import Streamer

WORK = Path(tempfile.mkdtemp(prefix="hsim-stream-bench-"))
LEDGER_TABLE = "bench_ledger"  # the daemon with LEDGER_TABLE: what the table costs


def pgbench_run(c, scripts: Scripts, clients: int, mode: str = "pipelined"):
    def run(seconds: float) -> tuple[int, float]:
        tps = pgbench(c, scripts.pgbench(clients, seconds, mode))
        return round(tps * scripts.events_per_transaction(mode) * seconds), seconds

    return run


def speed(c, rounds: int, seconds: float) -> dict[str, Measure]:
    """The max-speed measures, alternating in ``rounds`` rounds of ``seconds`` each."""
    streamers = {
        "default": Streamer(load_config_for(c), StopSignal()),
        "unnamed": Streamer(load_config_for(c), StopSignal()),
        "insert": Streamer(load_config_for(c, STREAM_OP_WEIGHTS="insert=1"), StopSignal()),
        "four": Streamer(load_config_for(c, STREAM_WRITERS="4"), StopSignal()),
        "ledgered": Streamer(load_config_for(c, LEDGER_TABLE=LEDGER_TABLE), StopSignal()),
    }
    streamers["unnamed"].writers[0].prepare = False  # every statement parsed and planned with each use
    psql(c, sqlfiles.load("ledger_table").format(table=f'"{LEDGER_TABLE}"', regclass=f"'\"{LEDGER_TABLE}\"'"))
    scripts: dict[str, Scripts] = {}
    for name, streamer in streamers.items():
        streamer.prepare()
        if name in ("default", "insert"):  # four writers run the default mix: same scripts, 4 clients
            scripts[name] = render(streamer, WORK / f"scripts-{name}")
            print(f"pgbench scripts, {name} mix: {scripts[name].kinds}", file=sys.stderr)
    m: dict[str, Measure] = defaultdict(Measure)
    plan = [
        ("insert-one", lambda s: (round(insert_ceiling(c, s, WORK) * s), s)),
        ("insert-one-pipelined", lambda s: (round(insert_ceiling(c, s, WORK, per_pipeline=PIPELINE) * s), s)),
        ("pgbench-default", pgbench_run(c, scripts["default"], 1)),
        ("daemon-default", StreamerRun(streamers["default"])),
        ("pgbench-default-awaited", pgbench_run(c, scripts["default"], 1, "prepared")),
        ("daemon-default-unnamed", StreamerRun(streamers["unnamed"])),
        ("pgbench-insert", pgbench_run(c, scripts["insert"], 1)),
        ("daemon-insert", StreamerRun(streamers["insert"])),
        ("pgbench-four", pgbench_run(c, scripts["default"], 4)),
        ("daemon-four", StreamerRun(streamers["four"])),
        ("daemon-ledger-table", StreamerRun(streamers["ledgered"])),
    ]
    for r in range(rounds):
        for name, run in plan if r % 2 == 0 else plan[::-1]:
            timed(c, m[name], seconds, run)
            print(f"round {r + 1}: {name} {m[name].rates[-1]:.0f}/s", file=sys.stderr)
    for streamer in streamers.values():
        streamer.close()
    psql(c, "DELETE FROM hospital_sim_writers WHERE writer LIKE 'pgbench-%'")
    return m


def rate_run(c, rate: float, seconds: float, out: Path, rss_at: tuple[float, ...] = ()) -> tuple[float, list[float]]:
    """Committed events/s (transactions in the ledger) over the window [5 s, 5 s + seconds] of a
    daemon at STREAM_RATE=rate."""
    path = out / f"rate-{rate:g}.ledger.jsonl"
    path.unlink(missing_ok=True)
    env = daemon_env(c, STREAM_RATE=str(rate), LEDGER_FILE=str(path), STREAM_WRITERS="4" if rate > 300 else "1")
    proc = start_daemon(env, "stream", log=out / f"rate-{rate:g}.log")
    t0 = time.time()
    rss: list[float] = []
    marks = sorted(rss_at)
    first: float | None = None
    # Run until the measuring window [first commit + 5 s, + seconds] is over, and the RSS marks taken.
    while first is None or time.time() < first + 5 + seconds + 1 or marks:
        if marks and time.time() - t0 >= marks[0]:
            rss.append(rss_mb(proc.pid))
            marks.pop(0)
        if first is None and path.exists():
            line = path.open(encoding="utf-8").readline()
            if line.endswith("\n"):
                first = datetime.fromisoformat(json.loads(line)["committed_at"]).timestamp()
        if time.time() - t0 > seconds + 600:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    # An event is one transaction: an episode's changes share its txid, and count once.
    events = {e["txid"]: datetime.fromisoformat(e["committed_at"]).timestamp() for e in ledger(path)}
    if not events:
        return 0.0, rss
    start = min(events.values()) + 5
    n = sum(start <= s < start + seconds for s in events.values())
    return n / seconds, rss


def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="WARNING")  # the in-process streamer would log every change at DEBUG
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (about 4 minutes in all)")
    parser.add_argument("--speed-only", action="store_true", help="only the max-speed ratios")
    parser.add_argument(
        "--no-fsync", action="store_true", help="fsync off: no commit-latency noise from a shared disk (CPU costs only)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of the max-speed measures (default 3; 2 with --quick)")
    parser.add_argument("--seconds", type=float, help="seconds per max-speed measure (default 12; 6 with --quick)")
    args = parser.parse_args()
    window = 20 if args.quick else 60
    rounds = args.rounds or (2 if args.quick else 3)
    seconds = args.seconds or (6 if args.quick else 12)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    accuracy: dict[float, float] = {}
    rss: list[float] = []
    with cluster(durable=not args.no_fsync) as c:
        seed(c)
        sync = commit_sync_us(c.root)
        m = speed(c, rounds, seconds)
        for rate in () if args.speed_only else (1, 1000, 100):
            marks = (60, 600) if rate == 100 and not args.quick else ()
            achieved, got = rate_run(c, rate, window if rate != 100 or args.quick else 540, out, marks)
            accuracy[rate] = achieved
            rss = got or rss
    shutil.rmtree(WORK, ignore_errors=True)
    print(f"# Stream benchmark, {datetime.now(UTC):%Y-%m-%d}\n\nmachine: {machine(sync)}\n")
    print(
        ("fsync off" if args.no_fsync else "Durable cluster (fsync, synchronous_commit on)")
        + f", default seed; {rounds} alternating rounds of {seconds} s; "
        "rates are the mean over the rounds, ratios the sum over the rounds. 'rows/event': table rows "
        "inserted+updated+deleted per event (pg_stat_user_tables), the same work on both sides.\n"
    )
    print("| measure | events/s (rows/event) | ceiling (same run) | ratio | target |\n|---|---|---|---|---|")

    def row(label: str, name: str, ceiling: str, base: str, target: float) -> None:
        ratio = m[name].ratio(m[base])
        rows = sum(m[name].changes) / len(m[name].changes)
        base_rows = sum(m[base].changes) / len(m[base].changes)
        base_text = f"{ceiling}: {m[base].rate:.0f}/s" + (
            "" if base.startswith("insert-one") else f" ({base_rows:.2f})"
        )
        rows_text = "" if name.startswith("insert-one") else f" ({rows:.2f})"
        goal = f"≥ {target} {verdict(ratio >= target)}" if target else "—"
        print(f"| {label} | {m[name].rate:.0f}{rows_text} | {base_text} | {ratio:.2f} | {goal} |")

    same = f"pgbench, the daemon's statements, {PIPELINE} per pipeline"
    row("daemon, default mix, 1 writer", "daemon-default", f"{same}, -c 1", "pgbench-default", 0.9)
    row("daemon, default mix, 1 writer", "daemon-default", "pgbench 1-row INSERT, -c 1", "insert-one", 0.6)
    row("daemon, insert-only, 1 writer", "daemon-insert", "pgbench 1-row INSERT, -c 1", "insert-one", 0.8)
    row("daemon, insert-only, 1 writer", "daemon-insert", f"{same}, -c 1", "pgbench-insert", 0.9)
    row("daemon, default mix, STREAM_WRITERS=4", "daemon-four", f"{same}, -c 4", "pgbench-four", 0.8)
    row("daemon, default mix, 1 writer", "daemon-default", f"pgbench 1-row INSERT, {PIPELINE} per pipeline",
        "insert-one-pipelined", 0)  # fmt: skip
    row("pgbench, default-mix statements pipelined", "pgbench-default", "pgbench 1-row INSERT", "insert-one", 0)
    row("daemon, default mix, 1 writer", "daemon-default", "pgbench, same statements, each reply awaited",
        "pgbench-default-awaited", 0)  # fmt: skip
    row("pgbench, default-mix statements, each reply awaited", "pgbench-default-awaited", "pgbench 1-row INSERT",
        "insert-one", 0)  # fmt: skip
    row("pgbench 1-row INSERT pipelined", "insert-one-pipelined", "pgbench 1-row INSERT", "insert-one", 0)
    row("daemon, default mix, named statements", "daemon-default", "the daemon parsing every use",
        "daemon-default-unnamed", 0)  # fmt: skip
    row("daemon, default mix, LEDGER_TABLE set", "daemon-ledger-table", "the daemon without it", "daemon-default", 0)
    print()
    for name in m:
        print(f"- {name}: " + ", ".join(f"{r:.0f}" for r in m[name].rates) + " events/s by round")
    print(
        "\nCPU per event over all rounds (server: every PostgreSQL process, background writers included; "
        "client: the in-process daemon, or pgbench):\n"
    )
    print("| measure | events/s | server CPU µs/event | client CPU µs/event |\n|---|---:|---:|---:|")
    for name in m:
        print(f"| {name} | {m[name].rate:.0f} | {m[name].server_us:.0f} | {m[name].client_us:.0f} |")
    if accuracy:
        print("\n| measure | value | target | ratio |\n|---|---|---|---|")
    for rate, achieved in accuracy.items():
        span = window if rate != 100 or args.quick else 540
        print(
            f"| STREAM_RATE={rate} (uniform), committed over {span} s | {achieved:.2f}/s | {rate}/s "
            f"| {achieved / rate:.3f} |"
        )
    if len(rss) == 2:
        print(f"| RSS at 100 events/s after 1 / 10 min | {rss[0]:.1f} / {rss[1]:.1f} MB | | |")


if __name__ == "__main__":
    main()
