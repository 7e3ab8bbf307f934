"""The daemon's own event statements as pgbench scripts: same SQL, same round trips, no Python.

Each kind of the mix gets ``variants`` script files, each holding one statement built by the
kind itself (``kind.build(ctx)``) and wrapped by the writer's ``compose()``, its parameters
inlined with ``cursor.mogrify`` exactly as psycopg2 inlines them. The files are passed as
``-f file@weight``, the weight of a file being its kind's configured share split over its
variants, so pgbench draws kinds in the daemon's proportions; one statement per transaction,
autocommit: one round trip per event, as the daemon.

Two ways, both in the extended protocol (``-M prepared``: each statement parsed once per
connection, then Bind/Execute of its variables per use, as the daemon's pipelined session does):

- ``prepared``: one event per pgbench transaction, and its reply awaited before the next is sent
  (one round trip per event); an episode's statements go in a pipeline (``\\startpipeline`` ...
  ``\\endpipeline``), one implicit transaction up to its Sync;
- ``pipelined``: ``PIPELINE`` events per pipeline, each its own explicit transaction (``BEGIN`` ...
  ``COMMIT``), so the server has the next event while the client reads replies, as the daemon
  does with its ``PIPELINE_DEPTH`` events in flight. pgbench 15 sends one Sync per pipeline (its
  ``\\syncpipeline`` came in 17), hence the explicit transactions: two more commands per event
  than the daemon's one Sync, and a pipeline that empties every ``PIPELINE`` events where the
  daemon's window slides.

What a replayed statement cannot repeat verbatim is drawn by pgbench instead, each time:

- ``r``, the uniform draw that places a pick (``random_pick``) — a fixed one would pick the
  same region of the index every time;
- the paciente / médico a statement points at (``paciente_id``, ``medico_id``, ``pk``,
  ``paciente``), uniform over the ids that existed when the scripts were written — a fixed
  paciente would soon hold every convênio, and a fixed row would be updated over and over;
- the writer's mark: ``_writer`` is ``'pgbench-' || <client_id>`` (one row per connection, as one
  per daemon writer) and ``_seq`` counts that client's events.

In simple mode pgbench substitutes ``:name`` only where ``name`` is a variable it defines
(``client_id``, ``scale``, ``random_seed``, ``default_seed`` and ours, all ``hsim_*``);
``render`` checks that those appear in a rendered statement only where it put them. In prepared
mode pgbench turns every ``:word`` into a parameter, so string literals holding a colon
(timestamps) are written as escape strings with the colon escaped (``E'17\\x3a45'``), and the
drawn values carry casts, since a bound parameter has no type of its own.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from psycopg2.extensions import AsIs

from daemon.pg.connection import Connection
from daemon.stream.flights import PIPELINE_DEPTH
from daemon.stream.kinds.deletes import floor_of
from daemon.stream.message import compose, episode_statements
from daemon.stream.streamer import Streamer

MAX_SCRIPTS = 128  # pgbench's limit on -f files
PGBENCH_VARIABLES = re.compile(r":(client_id|scale|random_seed|default_seed|hsim_\w+)\b")
# Parameters drawn by pgbench on every run: name -> (placeholder, \set line).
DRAWN = {
    "r": ("(:hsim_r)::float8", "\\set hsim_r random(0, 999999) / 1000000.0"),
    "paciente_id": ("(:hsim_p)::bigint", "\\set hsim_p random(:hsim_pmin, :hsim_pmax)"),
    "paciente": ("(:hsim_p)::bigint", "\\set hsim_p random(:hsim_pmin, :hsim_pmax)"),
    "medico_id": ("(:hsim_m)::bigint", "\\set hsim_m random(:hsim_mmin, :hsim_mmax)"),
}
PK_FOR_PACIENTES = ("pk", ("(:hsim_p)::bigint", "\\set hsim_p random(:hsim_pmin, :hsim_pmax)"))
MARK = {"_writer": AsIs("('pgbench-' || :client_id)"), "_seq": AsIs("(:hsim_seq)::bigint")}
LITERAL = re.compile(r"'(?:[^']|'')*'")
SEQ_LINE = "\\set hsim_seq :hsim_seq + 1"
PIPELINE = PIPELINE_DEPTH  # events per pgbench pipeline (the daemon's events in flight)
MODES = ("prepared", "pipelined")
# A pick with a floor (``Statement.floor``): its key, table and condition, to read the floor.
FLOORED = (
    # random_pick(floor=...): the state's smallest id
    re.compile(r"bound AS \(SELECT min\((id)\) AS lo, max\(id\) AS hi FROM (\w+) WHERE (.+?) AND id >= %\(_floor\)s\)"),
    # oldest_pick: the state's oldest (time, id)
    re.compile(r"pick AS \(SELECT id, (\w+) AS since FROM (\w+) WHERE (.+?) AND \1 <= now\(\)"),
)


@dataclass
class Scripts:
    """pgbench arguments for one mix, per protocol: ``-f file@weight`` pairs and ``-D`` definitions."""

    args: dict[str, list[str]]  # mode -> arguments
    files: int
    kinds: dict[str, int]  # variants written per kind
    conn: Connection | None = None
    # pgbench variable -> the query of its value and the value when the state is empty: the floor
    # of a pick's state (``Statement.floor``), read before each run, so that pgbench's picks search
    # from the state's smallest key as the daemon's do
    floors: dict[str, tuple[str, str]] = field(default_factory=dict)

    def pgbench(self, clients: int, seconds: float, mode: str = "pipelined") -> list[str]:
        threads = min(clients, 2)
        run = ["-n", "-M", "prepared", "-c", str(clients), "-j", str(threads), "-T", str(round(seconds))]
        return [*run, *self.args[mode], *self.floor_definitions()]

    def floor_definitions(self) -> list[str]:
        definitions: list[str] = []
        if self.conn is None:
            return definitions
        with self.conn.cursor() as cur:
            for variable, (query, start) in self.floors.items():
                cur.execute(query)
                row = cur.fetchone()  # none, or a NULL: the state is empty
                definitions += ["-D", f"{variable}={start if row is None or row[0] is None else row[0]}"]
        return definitions

    def events_per_transaction(self, mode: str) -> int:
        """Events in one pgbench transaction (one run of a script)."""
        return PIPELINE if mode == "pipelined" else 1


def escape_colons(text: str) -> str:
    """String literals holding a colon as escape strings with the colon escaped: pgbench's
    prepared mode would take ``:45`` in ``'17:45:00'`` for a variable."""

    def escaped(match: re.Match[str]) -> str:
        literal = match.group(0)
        if ":" not in literal:
            return literal
        return "E" + literal.replace("\\", "\\\\").replace(":", "\\x3a")

    return LITERAL.sub(escaped, text)


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
    conn = streamer.maintenance.connection()
    ctx = streamer.writers[0].ctx
    shares = streamer.mix.kind_shares()
    per_kind = max(1, min(variants, MAX_SCRIPTS // len(shares)))
    args: dict[str, list[str]] = {mode: [] for mode in MODES}
    written: dict[str, int] = {}
    floors: dict[str, tuple[str, str]] = {}
    with conn.cursor() as cur:
        for kind, share in shares:
            weight = max(1, round(share * 1_000_000 / per_kind))
            for v in range(per_kind):
                ctx.refresh_clock()
                statement = kind.build(ctx)
                if statement is None:
                    continue
                params: dict[str, object] = {**statement.params, **MARK}
                if statement.floor is not None:
                    variable = f"hsim_floor_{statement.floor}"
                    key, table, state = next(m for p in FLOORED for m in p.finditer(statement.ctes)).groups()
                    # the floor as the writer sends it: as the pick's reply writes it, typed by its context
                    params["_floor"] = AsIs(f":{variable}")
                    floors[variable] = (
                        f"SELECT min(id)::text FROM {table} WHERE {state}"
                        if key == "id"
                        else f"SELECT {floor_of(key)} FROM {table} WHERE {state} ORDER BY {key}, id LIMIT 1",
                        statement.floor_start,
                    )
                lines = [SEQ_LINE]
                drawn = dict(DRAWN)
                if statement.table == "pacientes" and statement.op == "update":
                    drawn[PK_FOR_PACIENTES[0]] = PK_FOR_PACIENTES[1]
                for name, (placeholder, line) in drawn.items():
                    if name in params:
                        params[name] = AsIs(placeholder)
                        if line not in lines:
                            lines.append(line)
                statements = episode_statements(statement) if statement.op == "episode" else [compose(statement)]
                texts: list[str] = []
                for sql in statements:
                    expected = sum(sql.count(f"%({name})s") for name in (*MARK, "_floor") if name in params)
                    expected += sum(sql.count(f"%({name})s") for name in drawn if name in statement.params)
                    text = escape_colons(cur.mogrify(sql, params).decode())
                    found = len(PGBENCH_VARIABLES.findall(text))
                    if found != expected:
                        raise ValueError(f"{kind.name}: {found} pgbench variables, expected {expected}")
                    texts.append(text)
                head = "\n".join(lines) + "\n"
                # One event, its reply awaited; an episode's statements in a pipeline (one round trip).
                prepared = directory / f"{kind.op}-{kind.name}-{v}.prepared.sql"
                body = "".join(f"{text};\n" for text in texts)
                if len(texts) > 1:
                    body = f"\\startpipeline\n{body}\\endpipeline\n"
                prepared.write_text(head + body, encoding="utf-8")
                args["prepared"] += ["-f", f"{prepared}@{weight}"]
                # PIPELINE events in one pipeline, each its own transaction, its variables drawn anew.
                pipelined = directory / f"{kind.op}-{kind.name}-{v}.pipelined.sql"
                event = head + "BEGIN;\n" + "".join(f"{text};\n" for text in texts) + "COMMIT;\n"
                pipelined.write_text(f"\\startpipeline\n{event * PIPELINE}\\endpipeline\n", encoding="utf-8")
                args["pipelined"] += ["-f", f"{pipelined}@{weight}"]
                written[kind.name] = written.get(kind.name, 0) + 1
    defined = ["-D", "hsim_seq=0", *id_ranges(conn)]
    scripts = {mode: [*files, *defined] for mode, files in args.items()}
    return Scripts(scripts, sum(written.values()), written, conn, floors)
