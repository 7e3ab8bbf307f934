"""Stream benchmark: speed as ratios to ceilings measured in the same run, on the same database.

1. Maximum events/s, one event per transaction on one connection (default mix and insert-only),
   vs pgbench running a one-row INSERT per transaction on one connection.
2. Rate accuracy of STREAM_RATE at 1, 100 and 1,000 events/s (committed/target over a minute).
3. RSS of the daemon after 1 and 10 minutes at 100 events/s.

`python bench/stream_bench.py` (about 14 minutes; `--quick` for a 3-minute version).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import cluster, daemon_env, ledger, machine, rss_mb, start_daemon
from loguru import logger

from daemon.config import load_config
from daemon.pg.cluster import find_bindir
from daemon.signals import StopSignal
from daemon.stream.streamer import Streamer


def pg_tool(name: str, c) -> list[str]:
    """A PostgreSQL client program pointed at the benchmark cluster."""
    return [str(find_bindir() / name), "-h", "127.0.0.1", "-p", str(c.port), "-U", "postgres"]


def pgbench_ceiling(c, seconds: int) -> float:
    script = Path(tempfile.mkdtemp()) / "insert.sql"
    script.write_text("\\set v random(1, 1000000)\nINSERT INTO bench_one (v) VALUES (:v);\n")
    table = (
        "CREATE TABLE IF NOT EXISTS bench_one (id BIGSERIAL PRIMARY KEY, v INT, created_at TIMESTAMPTZ DEFAULT now())"
    )
    subprocess.run([*pg_tool("psql", c), "-qc", table], check=True)
    command = [*pg_tool("pgbench", c), "-n", "-c", "1", "-j", "1", "-T", str(seconds), "-f", str(script), "postgres"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def streamer_max(c, seconds: float, **env: str) -> float:
    import os

    for key, value in {**c.env(), "HTTP_PORT": "0", **env}.items():
        os.environ[key] = value
    config = load_config(dotenv=None)
    streamer = Streamer(config, StopSignal())
    streamer.prepare()
    batch = 100 * len(streamer.writers)
    streamer.run_events(batch)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += streamer.run_events(batch)
    rate = done / (time.perf_counter() - start)
    streamer.close()
    return rate


def rate_run(c, rate: float, seconds: float, out: Path, rss_at: tuple[float, ...] = ()) -> tuple[float, list[float]]:
    """Committed events/s over the window [5 s, 5 s + seconds] of a daemon at STREAM_RATE=rate."""
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
    stamps = [datetime.fromisoformat(e["committed_at"]).timestamp() for e in ledger(path)]
    if not stamps:
        return 0.0, rss
    start = stamps[0] + 5
    n = sum(start <= s < start + seconds for s in stamps)
    return n / seconds, rss


def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="WARNING")  # the in-process streamer would log every change at DEBUG
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (about 3 minutes in all)")
    args = parser.parse_args()
    window = 20 if args.quick else 60
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with cluster(durable=True) as c:
        subprocess.run(
            [sys.executable, "-m", "daemon", "seed"],
            env=daemon_env(c, RANDOM_SEED="1"),
            check=True,
            capture_output=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        ceiling = pgbench_ceiling(c, 15 if not args.quick else 8)
        default_mix = streamer_max(c, 15 if not args.quick else 8)
        insert_only = streamer_max(c, 15 if not args.quick else 8, STREAM_OP_WEIGHTS="insert=1")
        four_writers = streamer_max(c, 15 if not args.quick else 8, STREAM_WRITERS="4")
        accuracy = {}
        rss: list[float] = []
        for rate in (1, 1000, 100):
            marks = (60, 600) if rate == 100 and not args.quick else ()
            achieved, got = rate_run(c, rate, window if rate != 100 or args.quick else 540, out, marks)
            accuracy[rate] = achieved
            rss = got or rss
    print(f"# Stream benchmark, {datetime.now(UTC):%Y-%m-%d}\n\nmachine: {machine()}\n")
    print("| measure | value | ceiling (same run) | ratio |\n|---|---|---|---|")
    print(
        f"| max events/s, default mix, 1 connection | {default_mix:.0f} | pgbench 1-row INSERT: {ceiling:.0f} tps "
        f"| {default_mix / ceiling:.2f} |"
    )
    print(
        f"| max events/s, insert-only, 1 connection | {insert_only:.0f} | {ceiling:.0f} tps | "
        f"{insert_only / ceiling:.2f} |"
    )
    print(
        f"| max events/s, default mix, 4 connections (STREAM_WRITERS=4) | {four_writers:.0f} | {ceiling:.0f} tps "
        f"(1 connection) | {four_writers / ceiling:.2f} |"
    )
    for rate, achieved in accuracy.items():
        span = window if rate != 100 or args.quick else 540
        print(
            f"| STREAM_RATE={rate} (uniform), committed over {span} s | {achieved:.2f}/s | target {rate}/s | "
            f"{achieved / rate:.3f} |"
        )
    if len(rss) == 2:
        print(f"| RSS at 100 events/s after 1 / 10 min | {rss[0]:.1f} / {rss[1]:.1f} MB | | |")


if __name__ == "__main__":
    main()
