"""Soak: the daemon at a steady rate for an hour while PostgreSQL is restarted periodically.

Reports events committed (ledger) vs what the database holds, reconnects, and RSS at start and
end. Not a test: run it by hand (`python bench/soak.py [--minutes 60] [--rate 50]`).
"""

from __future__ import annotations

import argparse
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from common import cluster, daemon_env, ledger, machine, row_delta, rss_mb, start_daemon

from daemon.catalogue import default_volumes
from daemon.pg.tables import TABLES


def counts(c) -> Counter:
    conn = psycopg2.connect(host="127.0.0.1", port=c.port, user="postgres", dbname="postgres")
    with conn.cursor() as cur:
        out = Counter({t: (cur.execute(f"SELECT count(*) FROM {t}") or cur.fetchone()[0]) for t in TABLES})
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--restart-every", type=float, default=300, help="seconds between PostgreSQL restarts")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with cluster(durable=True) as c:
        ledger_path = args.out / f"soak-{stamp}.ledger.jsonl"
        log = args.out / f"soak-{stamp}.log"
        env = daemon_env(
            c,
            STREAM_RATE=str(args.rate),
            LEDGER_FILE=str(ledger_path),
            RETRY_MAX_SECONDS="2",
            PG_CONNECT_TIMEOUT="2",
            RANDOM_SEED="7",
        )
        proc = start_daemon(env, log=log)
        while "Iniciando stream" not in log.read_text():
            time.sleep(0.2)
        seeded = Counter(default_volumes())  # the default volumes, seeded in one transaction
        time.sleep(60)
        rss_start = rss_mb(proc.pid)
        start = time.monotonic()
        restarts = 0
        modes = ("fast", "immediate")
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(min(args.restart_every, args.minutes * 60 - (time.monotonic() - start)))
            if time.monotonic() - start >= args.minutes * 60:
                break
            c.stop(mode=modes[restarts % 2])
            time.sleep(3)
            c.ensure_started()
            restarts += 1
        rss_end = rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        entries = ledger(ledger_path)
        expected = row_delta(entries)
        final = counts(c)
        text = log.read_text()
        reconnects = text.count("reconnected to")
        mismatched = {t: (final[t] - seeded[t], expected[t]) for t in TABLES if final[t] - seeded[t] != expected[t]}
        print(
            f"# Soak {stamp}: {args.minutes:g} min at {args.rate:g} events/s, PostgreSQL restarted every "
            f"{args.restart_every:g} s (fast/immediate alternating)"
        )
        print(f"machine: {machine()}")
        print("| measure | value |\n|---|---|")
        print(f"| changes committed (ledger lines; an episode has several) | {len(entries)} |")
        print(f"| table rows gained = ledger inserts - deletes | {'yes' if not mismatched else mismatched} |")
        print(f"| PostgreSQL restarts | {restarts} |")
        print(f"| reconnects logged | {reconnects} |")
        print(f"| connection losses with events in flight | {text.count('checking them after reconnecting')} |")
        settled = text.count("had committed (txid")
        print(f"| events in doubt that had committed (recorded from the writer rows) | {settled} |")
        print(f"| RSS after 1 min / at end (MB) | {rss_start:.1f} / {rss_end:.1f} |")
        print(f"| exit code after SIGTERM | {code} |")


if __name__ == "__main__":
    main()
