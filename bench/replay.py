"""The daemon's own event statements as pgbench scripts: same SQL, same round trips, no Python.

Each kind of the mix gets ``variants`` script files, each holding one statement built by the
kind itself (``kind.build(ctx)``) and wrapped by the writer's ``compose()``, its parameters
inlined with ``cursor.mogrify`` exactly as psycopg2 inlines them for the daemon (both use the
simple query protocol: the statement travels as text). The files are passed as
``-f file@weight``, the weight of a file being its kind's configured share split over its
variants, so pgbench draws kinds in the daemon's proportions; one statement per transaction,
autocommit, ``-M simple``: one round trip per event, as the daemon.

What a replayed statement cannot repeat verbatim is drawn by pgbench instead, each time:

- ``r``, the uniform draw that places a pick (``random_pick``) — a fixed one would pick the
  same region of the index every time;
- the paciente / médico a statement points at (``paciente_id``, ``medico_id``, ``pk``,
  ``paciente``), uniform over the ids that existed when the scripts were written — a fixed
  paciente would soon hold every convênio, and a fixed row would be updated over and over;
- the writer's mark: ``_writer`` is ``'pgbench-<client_id>'`` (one row per connection, as one
  per daemon writer) and ``_seq`` counts that client's events.

pgbench substitutes ``:name`` only where ``name`` is a variable it defines (``client_id``,
``scale``, ``random_seed``, ``default_seed`` and ours, all ``hsim_*``); ``render`` checks that
those appear in a rendered statement only where it put them, so the ``:`` of timestamps and
casts in the literals are left alone.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from psycopg2.extensions import AsIs

from daemon.pg.connection import Connection
from daemon.stream.streamer import Streamer
from daemon.stream.writer import compose, episode_statements

MAX_SCRIPTS = 128  # pgbench's limit on -f files
PGBENCH_VARIABLES = re.compile(r":(client_id|scale|random_seed|default_seed|hsim_\w+)\b")
# Parameters drawn by pgbench on every run: name -> (placeholder, \set line).
DRAWN = {
    "r": (":hsim_r", "\\set hsim_r random(0, 999999) / 1000000.0"),
    "paciente_id": (":hsim_p", "\\set hsim_p random(:hsim_pmin, :hsim_pmax)"),
    "paciente": (":hsim_p", "\\set hsim_p random(:hsim_pmin, :hsim_pmax)"),
    "medico_id": (":hsim_m", "\\set hsim_m random(:hsim_mmin, :hsim_mmax)"),
}
PK_FOR_PACIENTES = ("pk", (":hsim_p", "\\set hsim_p random(:hsim_pmin, :hsim_pmax)"))
MARK = {"_writer": AsIs("'pgbench-:client_id'"), "_seq": AsIs(":hsim_seq")}
SEQ_LINE = "\\set hsim_seq :hsim_seq + 1"


@dataclass
class Scripts:
    """pgbench arguments for one mix: ``-f file@weight`` pairs plus the ``-D`` definitions."""

    args: list[str]
    files: int
    kinds: dict[str, int]  # variants written per kind

    def pgbench(self, clients: int, seconds: float) -> list[str]:
        threads = min(clients, 2)
        return ["-n", "-M", "simple", "-c", str(clients), "-j", str(threads), "-T", str(round(seconds)), *self.args]


def id_ranges(conn: Connection) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT min(id), max(id) FROM pacientes")
        pmin, pmax = cur.fetchone()
        cur.execute("SELECT min(id), max(id) FROM medicos")
        mmin, mmax = cur.fetchone()
    return ["-D", f"hsim_pmin={pmin}", "-D", f"hsim_pmax={pmax}", "-D", f"hsim_mmin={mmin}", "-D", f"hsim_mmax={mmax}"]


def render(streamer: Streamer, directory: Path, variants: int = 10) -> Scripts:
    """Write the scripts for ``streamer``'s mix (``prepare()`` must have run) into ``directory``."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    writer = streamer.writers[0]
    conn = writer.connection()
    ctx = writer.ctx
    shares = streamer.mix.kind_shares()
    per_kind = max(1, min(variants, MAX_SCRIPTS // len(shares)))
    args: list[str] = []
    written: dict[str, int] = {}
    with conn.cursor() as cur:
        for kind, share in shares:
            weight = max(1, round(share * 1_000_000 / per_kind))
            for v in range(per_kind):
                ctx.refresh_clock()
                statement = kind.build(ctx)
                if statement is None:
                    continue
                params: dict[str, object] = {**statement.params, **MARK}
                lines = [SEQ_LINE]
                drawn = dict(DRAWN)
                if statement.table == "pacientes" and statement.op == "update":
                    drawn[PK_FOR_PACIENTES[0]] = PK_FOR_PACIENTES[1]
                for name, (placeholder, line) in drawn.items():
                    if name in params:
                        params[name] = AsIs(placeholder)
                        if line not in lines:
                            lines.append(line)
                # An episode's statements go in one message, as the daemon sends them: a pgbench
                # compound command (``\\;``), which PostgreSQL runs as one transaction.
                sql = " \\; ".join(episode_statements(statement)) if statement.op == "episode" else compose(statement)
                expected = sum(sql.count(f"%({name})s") for name in MARK)  # the mark's client_id and hsim_seq
                expected += sum(sql.count(f"%({name})s") for name in drawn if name in statement.params)
                text = cur.mogrify(sql, params).decode()
                found = len(PGBENCH_VARIABLES.findall(text))
                if found != expected:
                    raise ValueError(f"{kind.name}: {found} pgbench variables in the statement, expected {expected}")
                path = directory / f"{kind.op}-{kind.name}-{v}.sql"
                path.write_text("\n".join(lines) + "\n" + text + ";\n", encoding="utf-8")
                args += ["-f", f"{path}@{weight}"]
                written[kind.name] = written.get(kind.name, 0) + 1
    args += ["-D", "hsim_seq=0", *id_ranges(conn)]
    return Scripts(args, sum(written.values()), written)
