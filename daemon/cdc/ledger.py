"""Ground truth: one JSON line per committed change, written only after the commit succeeded."""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from daemon.config import Config
from daemon.pg import connection, sqlfiles
from daemon.pg.connection import Cursor
from daemon.pg.tables import quoted


@dataclass(frozen=True)
class Change:
    """One committed change, as the ledger records it (the ground truth Debezium must match)."""

    table: str  # "" for a change of no table (a logical decoding message)
    op: str  # insert | update | delete, or ddl | truncate | message (no row: pk 0)
    pk: int
    txid: int
    # Columns the change left unchanged while they hold a value stored out of line (TOAST): under
    # REPLICA IDENTITY DEFAULT, Debezium must deliver its unavailable-value placeholder for them.
    unchanged_toast: tuple[str, ...] = ()
    episode: str | None = None  # the clinical episode (STREAM_EPISODE_WEIGHTS key) it belongs to
    # What a change of no row says about itself, as (key, JSON value) pairs written into its ledger
    # line (and LEDGER_TABLE's ``detail``): e.g. a DDL's statement, a message's prefix and content.
    detail: tuple[tuple[str, object], ...] = ()


ROW_OPS = ("insert", "update", "delete")


class Ledger:
    """Appends ``{"table","op","pk","txid","committed_at"}`` lines (plus ``unchanged_toast`` when
    the change has such columns, ``episode`` and the keys of ``detail``); safe to share between
    threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8", buffering=1)  # line-buffered: a crash loses no line
        self._lock = threading.Lock()

    def record(self, change: Change) -> None:
        entry: dict[str, object] = {
            "table": change.table,
            "op": change.op,
            "pk": change.pk,
            "txid": change.txid,
            "committed_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        }
        if change.unchanged_toast:
            entry["unchanged_toast"] = list(change.unchanged_toast)
        if change.episode:
            entry["episode"] = change.episode
        for key, value in change.detail:
            entry.setdefault(key, value)
        line = json.dumps(entry)
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                self._file.close()


def read_ledger(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON ledger line ({exc.msg})") from None


def read_ledgers(paths: list[Path]) -> list[dict[str, Any]]:
    """The lines of several ledger files (one per replica, say), merged in commit order."""
    entries = [entry for path in paths for entry in read_ledger(path)]
    return sorted(entries, key=lambda e: str(e.get("committed_at", ""))) if len(paths) > 1 else entries


def read_ledger_table(cur: Cursor, table: str) -> list[dict[str, Any]]:
    """LEDGER_TABLE's rows as ledger lines (the same keys as the file's)."""
    cur.execute(sqlfiles.load("ledger_rows").format(quoted(table)))
    entries: list[dict[str, Any]] = []
    for tbl, op, pk, txid, episode, unchanged_toast, detail, committed_at in cur.fetchall():
        entry: dict[str, Any] = {
            "table": tbl,
            "op": op,
            "pk": pk,
            "txid": txid,
            "committed_at": committed_at.isoformat(),
        }
        if episode:
            entry["episode"] = episode
        if unchanged_toast:
            entry["unchanged_toast"] = list(unchanged_toast)
        for key, value in (detail or {}).items():
            entry.setdefault(key, value)
        entries.append(entry)
    return entries


def ledger_from_table(config: Config, table: str) -> list[dict[str, Any]]:
    """LEDGER_TABLE read over a connection of its own (``verify``, ``ledger``)."""
    conn = connection.connect(config.pg, "ledger")
    try:
        with connection.transaction(conn) as cur:
            return read_ledger_table(cur, table)
    finally:
        connection.close_quietly(conn)


def print_summary(source: str, entries: list[dict[str, Any]], out: TextIO, as_json: bool = False) -> int:
    """Committed changes per table and operation, from ledger lines (the `ledger` subcommand)."""
    try:
        counts = Counter((e["table"], e["op"]) for e in entries)
        episodes = Counter(e["episode"] for e in {e["txid"]: e for e in entries if e.get("episode")}.values())
    except KeyError as exc:
        print(f"ledger: a line without {exc}", file=sys.stderr)
        return 2
    in_episodes = sum(1 for e in entries if e.get("episode"))
    tables = sorted({table for table, op in counts if op in ROW_OPS})
    no_row = Counter({f"{op} {table}".strip(): n for (table, op), n in counts.items() if op not in ROW_OPS})
    if as_json:
        per_table = {t: {op: counts[(t, op)] for op in ("insert", "update", "delete")} for t in tables}
        doc = {
            "source": source,
            "tables": {t: {**ops, "total": sum(ops.values())} for t, ops in per_table.items()},
            "total": sum(n for (_, op), n in counts.items() if op in ROW_OPS),
            "no_row": dict(sorted(no_row.items())),
            "episodes": {
                "count": sum(episodes.values()),
                "kinds": dict(sorted(episodes.items())),
                "changes": in_episodes,
            },
        }
        json.dump(doc, out)
        print(file=out)
        return 0
    print(f"=== Committed changes ({source}) ===", file=out)
    print(f"{'table':<22}{'insert':>9}{'update':>9}{'delete':>9}{'total':>9}", file=out)
    for table in tables:
        row = [counts[(table, op)] for op in ("insert", "update", "delete")]
        print(f"{table:<22}{row[0]:>9,}{row[1]:>9,}{row[2]:>9,}{sum(row):>9,}", file=out)
    totals = [sum(n for (_, op), n in counts.items() if op == o) for o in ("insert", "update", "delete")]
    print(f"{'TOTAL':<22}{totals[0]:>9,}{totals[1]:>9,}{totals[2]:>9,}{sum(totals):>9,}", file=out)
    if no_row:  # truncates, logical messages, DDL: changes of no row
        print("changes of no row: " + ", ".join(f"{what} {n:,}" for what, n in sorted(no_row.items())), file=out)
    if episodes:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(episodes.items()))
        print(f"episodes: {sum(episodes.values()):,} ({kinds}), {in_episodes:,} changes", file=out)
    return 0
