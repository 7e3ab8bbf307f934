"""Every environment variable the daemon reads, declared once: one ``Variable`` row each.

A row holds the name, type, typed default, allowed values, meaning and topic, with the reason for
the default in a comment. The parser (``daemon.config``), README's configuration table,
docker/simulator.env.example and k8s/configmap.yaml are all derived from these rows
(``daemon.configdocs``; regenerate with ``python -m daemon.configdocs --write`` or
``make config-docs``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daemon.pg.tables import TABLES, parse_extras

Kind = Literal["str", "int", "float", "path", "map"]
Value = str | int | float | Path | Mapping[str, float] | None
Check = Callable[[object], str | None]

GROUPS = ("database", "stream", "seed", "CDC", "operations")
MAX_SEED_ROWS = 100_000_000  # CPFs are derived from ids; keep far below the 10^9 CPF space.
IDENTIFIER_LENGTH = 63  # PostgreSQL truncates longer identifiers (NAMEDATALEN - 1)


def number_text(value: float) -> str:
    """A number as a person writes it: 2.0 -> "2", 0.25 -> "0.25", 100000000 -> "100000000"."""
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return str(int(value))


def listed(words: tuple[str, ...], last: str = "or") -> str:
    """("a", "b", "c") -> "a, b or c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


@dataclass(frozen=True)
class Variable:
    """One environment variable: what it is, what it accepts and what it does."""

    name: str
    type: Kind
    default: Value
    meaning: str
    group: str
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum itself is excluded
    unit: str = ""  # words before the range in its error ("must be a port number between ...")
    choices: tuple[str, ...] = ()
    any_case: bool = False  # choices also accepted in lower case
    identifier: bool = False  # a PostgreSQL identifier: 1-63 characters
    error: str | None = None  # replaces the message derived from the range
    check: Check | None = None  # a further test of the parsed value: a message when it fails
    rule: str = ""  # what ``check`` demands, in words (the README's "allowed" column)
    unset: str = "(none)"  # what leaving a variable without default unset means
    zero_ok: bool = False  # a map whose weights may all be 0

    @property
    def has_fixed_default(self) -> bool:
        """False for None and "": the example files list such variables commented out."""
        return self.default is not None and self.default != ""

    @property
    def default_text(self) -> str:
        """The default as written in an env file: 2.0 -> "2", a map -> "k=1,l=2"."""
        default = self.default
        if default is None:
            return self.unset
        if default == "":
            return "(empty)"
        if isinstance(default, Mapping):
            return ",".join(f"{key}={number_text(weight)}" for key, weight in default.items())
        if isinstance(default, int | float):
            return number_text(default)
        return str(default)

    @property
    def range_error(self) -> str:
        """The message of a value out of range (the bounds written with ``:g``, as always)."""
        if self.error is not None:
            return self.error
        low, high = self.minimum, self.maximum
        if self.above:
            return f"must be > {low:g} and <= {high:g}"
        if high is None:
            return f"must be >= {low:g}"
        return f"must be {self.unit}between {low:g} and {high:g}"

    @property
    def choice_error(self) -> str:
        if len(self.choices) > 2:
            return f"must be one of {', '.join(self.choices)}"
        return f"must be {listed(self.choices)}"

    @property
    def allowed(self) -> str:
        """The accepted values in a few words, for the README table and the example files."""
        if self.choices:
            return listed(self.choices) + (" (or lower case)" if self.any_case else "")
        if self.type == "map" and isinstance(self.default, Mapping):
            return "default's keys, weights >= 0" + ("" if self.zero_ok else ", not all 0")
        if self.identifier:
            return f"1-{IDENTIFIER_LENGTH} characters"
        if self.minimum is not None:
            low = number_text(self.minimum)
            if self.maximum is None:
                return f">= {low}"
            high = number_text(self.maximum)
            return f"> {low}, <= {high}" if self.above else f"{low}-{high}"
        return self.rule or {"int": "any integer", "path": "any path"}.get(self.type, "any")


def not_blank(value: object) -> str | None:
    return "must not be empty" if isinstance(value, str) and not value.strip() else None


def writable_file(value: object) -> str | None:
    """A file we will append to: its directory must exist (or be creatable) and be writable."""
    if not isinstance(value, Path):
        return None
    if value.is_dir():
        return f"must be a file path, not a directory (got {str(value)!r})"
    parent = value.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the first existing ancestor is where the directories get created
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"must be in a writable directory (got {str(value)!r})"
    return None


def extras_list(value: object) -> str | None:
    """SCHEMA_EXTRAS: a comma-separated list of known extras (or empty)."""
    return parse_extras(value)[1] if isinstance(value, str) else None


def readable_file(value: object) -> str | None:
    """A file we read at startup (a certificate, a key, a password): it must exist and open for reading."""
    if not isinstance(value, Path):
        return None
    if value.is_dir():
        return f"must be a readable file, not a directory (got {str(value)!r})"
    try:
        with value.open("rb"):
            pass
    except OSError as exc:
        return f"must be a readable file: {exc.strerror or exc} (got {str(value)!r})"
    return None


def root_cert(value: object) -> str | None:
    """PG_SSLROOTCERT: a readable CA file, or libpq's ``system`` (the operating system's trusted roots)."""
    return None if value == Path(SYSTEM_ROOTS) else readable_file(value)


def private_key(value: object) -> str | None:
    """PG_SSLKEY: readable, and no looser than libpq accepts (else every connection fails)."""
    problem = readable_file(value)
    if problem or not isinstance(value, Path):
        return problem
    info = value.stat()
    # libpq's rule: mode 0600 or stricter; 0640 or stricter when root owns the file.
    if info.st_mode & (0o037 if info.st_uid == 0 else 0o077):
        return (
            f"must be mode 0600 or stricter (0640 if owned by root), not {info.st_mode & 0o777:04o} "
            f"(got {str(value)!r}): libpq refuses it otherwise"
        )
    return None


def _seconds(name: str, default: float, meaning: str, low: float, high: float, group: str = "stream") -> Variable:
    return Variable(name, "float", default, meaning, group, minimum=low, maximum=high, unit="seconds ")


def volume_variable(table: str) -> str:
    """The variable holding the seed volume of ``table``: pacientes -> SEED_PACIENTES."""
    return f"SEED_{table.upper()}"


def _volume(table: str, rows: int) -> Variable:
    return Variable(
        volume_variable(table),
        "int",
        rows,
        f"seed volume of {table}",
        "seed",
        minimum=0,
        maximum=MAX_SEED_ROWS,
        unit="a row count ",
    )


# The predecessor's seed volumes (~13.4k rows), in the order of TABLES.
_SEED_VOLUMES = {
    "pacientes": 2000,
    "medicos": 200,
    "convenios": 12,
    "pacientes_convenios": 2500,
    "consultas": 4000,
    "exames": 3500,
    "internacoes": 1200,
}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")  # libpq's sslmode
SYSTEM_ROOTS = "system"  # libpq's sslrootcert=system: the operating system's trusted CA store
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")

# fmt: off
VARIABLES: tuple[Variable, ...] = (
    # -- database ---------------------------------------------------------------------------
    Variable("PG_HOST", "str", "localhost", "PostgreSQL host", "database", check=not_blank, rule="not blank"),
    Variable("PG_PORT", "int", 5432, "PostgreSQL port", "database",
             minimum=1, maximum=65535, unit="a port number "),
    Variable("PG_USER", "str", "postgres", "database role", "database"),
    Variable("PG_PASSWORD", "str", "", "password; never logged", "database"),
    # The Docker/Kubernetes secret-file convention: the password never sits in the environment.
    Variable("PG_PASSWORD_FILE", "path", None, "password read from this file (one final newline dropped)",
             "database", check=readable_file, rule="readable file; not with PG_PASSWORD"),
    Variable("PG_DATABASE", "str", "postgres", "database name", "database"),
    # libpq's default: TLS when the server offers it, without verifying who the server is.
    Variable("PG_SSLMODE", "str", "prefer", "TLS mode (libpq sslmode)", "database", choices=SSL_MODES),
    Variable("PG_SSLROOTCERT", "path", None, f"CA to verify the server ({SYSTEM_ROOTS}: OS trust store)",
             "database", check=root_cert, rule=f"readable file or {SYSTEM_ROOTS}", unset="(~/.postgresql/root.crt)"),
    Variable("PG_SSLCERT", "path", None, "client certificate (pg_hba.conf clientcert, cert auth)", "database",
             check=readable_file, rule="readable file"),
    Variable("PG_SSLKEY", "path", None, "private key of PG_SSLCERT", "database", check=private_key,
             rule="readable file, mode 0600"),
    # Fail fast on a dead host; never let one statement hang the stream.
    Variable("PG_CONNECT_TIMEOUT", "int", 5, "seconds to wait for a connection", "database", minimum=1),
    Variable("PG_STATEMENT_TIMEOUT_MS", "int", 30_000, "statement_timeout per session (0 = none)", "database",
             minimum=0),
    Variable("PG_APPLICATION_NAME", "str", "hospital-sim", "application_name in pg_stat_activity (e.g. the pod name)",
             "database"),
    # None: the seven tables exactly as the predecessor's guide defines them (README: opt-in edge cases).
    Variable("SCHEMA_EXTRAS", "str", "",
             "opt-in CDC edge-case tables: faturamento, fila_triagem, sinais_vitais",
             "database", check=extras_list, rule="comma-separated names"),
    # -- stream -----------------------------------------------------------------------------
    # The predecessor's cadence: one tick every 2 s plus up to 400 ms of jitter.
    Variable("STREAM_INTERVAL_SECONDS", "float", 2.0, "seconds between stream ticks", "stream",
             minimum=0.001, maximum=86_400, unit="a number of seconds "),
    Variable("MAX_JITTER_MS", "int", 400, "random delay of up to this many ms added to each tick", "stream",
             minimum=0, maximum=3_600_000, unit="ms "),
    # The predecessor ran one event per tick (~30-50 events/min at the default interval).
    Variable("EVENTS_PER_TICK", "int", 1, "events per tick, each its own transaction", "stream",
             minimum=1, maximum=100_000),
    # Steady state: every open lifecycle's inflow equals its outflow (shares of all events, x 131.65):
    #   consultas agendadas  in 44 x 55/110 = 22 (new consultas) + 10 x 3/10 = 3 (alta: follow-up)   = 25
    #                        out 69 x 19/69 = 19 (consulta_status) + 3 (atendimento) + 3 (admissao)  = 25
    #   exames pendentes     in 44 x 25/110 = 10 (new exames) + 3 x 2 (atendimento) + 3 (admissao)   = 19
    #                        out 69 x 19/69 = 19 (exame_resultado)
    #   laudos a assinar     in 19 (results)                   out 69 x 19/69 = 19 (laudo_assinatura)
    #   internações abertas  in 44 x 15/110 = 6 (admissions) + 3 (admissao)                         =  9
    #                        out 69 x 6/69 = 6 (internacao_alta) + 3 (alta)                          =  9
    #   carteiras ativas     in 44 x 5/110 = 2 (enrolments)    out 8.65 x 200/865 = 2 (convenio_cancelamento)
    #                        (troca_convenio deletes one card and inserts another)
    #   consultas canceladas in 19 x 15 % = 2.85 (cancellations)  out 8.65 x 285/865 = 2.85 (consulta_retencao)
    #   exames assinados     in 19 (signatures)                out 8.65 x 380/865 = 3.8 (exame_retencao: a
    #                        fifth of the signed exams are removed; the rest stay, as closed rows do)
    # (15 %: the cancelled share of consulta outcomes, daemon.stream.kinds.updates.) Checked by a test;
    # weights that cannot balance are reported once at startup (stream.backlog_unbalanced).
    Variable("STREAM_OP_WEIGHTS", "map", {"insert": 44, "update": 69, "delete": 8.65, "episode": 10},
             "mix of operations; insert=1 reproduces the predecessor", "stream"),
    # The predecessor's insert mix plus convênio enrolments (left out when the mix is insert-only).
    Variable("STREAM_INSERT_WEIGHTS", "map",
             {"consultas": 55, "exames": 25, "internacoes": 15, "pacientes": 10, "pacientes_convenios": 5},
             "mix inside inserts (pacientes_convenios = enrolment)", "stream"),
    # Each lifecycle update as often as its rows arrive (see the balance above).
    Variable("STREAM_UPDATE_WEIGHTS", "map",
             {"consulta_status": 19, "exame_resultado": 19, "laudo_assinatura": 19, "internacao_alta": 6,
              "paciente_contato": 4, "convenio_renovacao": 2},
             "mix inside updates", "stream"),
    Variable("STREAM_DELETE_WEIGHTS", "map",
             {"convenio_cancelamento": 200, "consulta_retencao": 285, "exame_retencao": 380},
             "mix inside deletes", "stream"),
    # Clinical episodes, several changes on several tables in one transaction (see the balance above).
    Variable("STREAM_EPISODE_WEIGHTS", "map",
             {"atendimento": 3, "admissao": 3, "alta": 3, "troca_convenio": 1},
             "mix inside episodes (multi-table transactions)", "stream"),
    # Rare, so that a pipeline that leaks rolled-back work is caught without distorting the traffic.
    Variable("STREAM_EPISODE_FAILURE_SHARE", "float", 0.02,
             "share of admissions that fail on their last change and roll back, on purpose", "stream",
             minimum=0, maximum=1, unit="a share "),
    # At once: a cancelled slot leaves the agenda as soon as it is cancelled (and a signed exam may
    # go), so retention keeps pace at any speed (a wait of days cannot be balanced by a run of minutes).
    Variable("STREAM_RETENTION_DAYS", "int", 0,
             "retention deletes cancelled consultas and signed exams this many days after (0 = at once)", "stream",
             minimum=0, maximum=36_500, unit="days "),
    # A quarter of exam results are long reports (several kB): out-of-line TOAST storage, where CDC loses values.
    # Events on the SCHEMA_EXTRAS tables and logical decoding messages, on STREAM_OP_WEIGHTS' scale
    # (which sums to 131.65): a kind counts only when its extra is on; messages need no table, so
    # they are off (0) until given a weight. Guides: opened = billed = settled (each lifecycle
    # step as often as guides arrive): guias abertas in 4 (guia_abertura) out 4 (guia_faturamento),
    # guias faturadas in 4 (guia_faturamento) out 4 (guia_desfecho); of the 4 opened, 2.8 bill a
    # consulta, out of 14.25 + 3 realised (consulta_status x 75 % + atendimento); of the 4 settled,
    # 0.6 are glosadas, 0.18 of them an internação's (1.2 of the 4 guias opened), of which
    # guia_recurso appeals 0.15 (only with STREAM_DDL_EVERY_SECONDS, once its status label exists);
    # triage: ~30 arrivals per shift handover (TRUNCATE).
    Variable("STREAM_EXTRA_WEIGHTS", "map",
             {"guia_abertura": 4, "guia_faturamento": 4, "guia_desfecho": 4, "guia_recurso": 0.15,
              "triagem_chegada": 6, "triagem_passagem_turno": 0.2, "sinal_vital": 8,
              "mensagem_transacional": 0, "mensagem_avulsa": 0},
             "events on SCHEMA_EXTRAS tables, and logical messages (STREAM_OP_WEIGHTS' scale)", "stream",
             zero_ok=True),
    # Off: schema changes are opt-in (the seven tables never change; only faturamento does).
    Variable("STREAM_DDL_EVERY_SECONDS", "float", 0.0,
             "a schema change of faturamento every this many seconds, in a fixed sequence (0 = off)", "stream",
             minimum=0, maximum=86_400, unit="seconds "),
    # The sender's name, as pipelines route logical messages by prefix (message.prefix.include.list).
    Variable("STREAM_MESSAGE_PREFIX", "str", "hospital-sim", "prefix of the logical decoding messages the stream emits",
             "stream", check=not_blank, rule="not blank"),
    Variable("STREAM_TOAST_SHARE", "float", 0.25, "share of exam results that are long (TOASTed) reports", "stream",
             minimum=0, maximum=1, unit="a share "),
    # Off: the interval mode above is the predecessor's.
    Variable("STREAM_RATE", "float", 0.0, "target events/s (e.g. 0.1-1000; 0 = interval mode); ticks every 0.1 s",
             "stream", minimum=0, maximum=1_000_000,
             error="must be events/s between 0 (off: interval mode) and 1000000"),
    Variable("STREAM_ARRIVALS", "str", "uniform", "arrival process in rate mode", "stream",
             choices=("uniform", "poisson")),
    Variable("STREAM_BURST_MULTIPLIER", "float", 1.0, "rate multiplier during bursts (1 = no bursts)", "stream",
             minimum=0, maximum=1000, unit="a multiplier "),
    _seconds("STREAM_BURST_SECONDS", 0.0, "length of each burst", 0, 86_400),
    _seconds("STREAM_BURST_EVERY_SECONDS", 0.0, "a burst starts every this many seconds", 0, 86_400),
    Variable("STREAM_PROFILE", "str", "flat", "flat: steady; clinic: busy clinic hours, quiet nights (Brasília time)",
             "stream", choices=("flat", "clinic")),
    # One writer connection reproduces the predecessor; more go past one connection's commit ceiling.
    Variable("STREAM_WRITERS", "int", 1, "writer connections; one event = one transaction", "stream",
             minimum=1, maximum=64),
    # The predecessor's summary cadence: "Stream ciclo 50: ...".
    Variable("SUMMARY_EVERY_TICKS", "int", 50, "ticks between summary lines (x10 in rate mode)", "stream", minimum=1),
    # -- seed -------------------------------------------------------------------------------
    # Rows per COPY chunk: large enough to amortise round trips, small enough for progress.
    Variable("BATCH_SIZE", "int", 5000, "rows per COPY chunk while seeding", "seed", minimum=1, maximum=1_000_000),
    *(_volume(table, rows) for table, rows in _SEED_VOLUMES.items()),
    Variable("SEED_SCALE", "float", 1.0, "factor applied to every SEED_* volume", "seed",
             minimum=0, above=True, maximum=1000),
    Variable("RANDOM_SEED", "int", None, "fixes the data generators: same seed, same rows", "seed", unset="(random)"),
    # -- CDC --------------------------------------------------------------------------------
    Variable("CDC_PUBLICATION", "str", None, "create/complete this publication: the 7 tables and the heartbeat table",
             "CDC", identifier=True),
    Variable("CDC_REPLICA_IDENTITY", "str", None, "REPLICA IDENTITY set on the 7 tables", "CDC",
             choices=("default", "full"), unset="(unchanged)"),
    Variable("CDC_HEARTBEAT_TABLE", "str", None, "create this table (in the publication) for heartbeat.action.query",
             "CDC", identifier=True),
    # PostgreSQL's default: changes of a partition are published as the partition's own.
    Variable("CDC_PUBLISH_VIA_PARTITION_ROOT", "str", "false",
             "publication's publish_via_partition_root: true = partitions' changes on the parent's topic", "CDC",
             choices=("false", "true")),
    Variable("CDC_CONNECTOR_ROLE", "str", "debezium", "role Debezium connects as (doctor checks its privileges)", "CDC",
             identifier=True),
    Variable("LEDGER_FILE", "path", None, "append one JSON line per committed change (ground truth for verify)",
             "CDC", check=writable_file, rule="file in a writable dir"),
    # Off: a table costs every event an extra row (see README); replicas and pods come and go with it on.
    Variable("LEDGER_TABLE", "str", None,
             "ground truth kept in this table too (one row per change, shared by replicas)", "CDC",
             identifier=True),
    # -- operations -------------------------------------------------------------------------
    Variable("HTTP_HOST", "str", "0.0.0.0", "address of the probe/metrics server", "operations"),
    # Probes and metrics on the conventional metrics port.
    Variable("HTTP_PORT", "int", 8080, "port of /healthz, /readyz, /metrics (0 = off)", "operations",
             minimum=0, maximum=65535, unit="a port number (0 = off) "),
    Variable("LOG_LEVEL", "str", "INFO", "lowest level logged", "operations", choices=LOG_LEVELS, any_case=True),
    Variable("LOG_FORMAT", "str", "human", "human: readable lines; json: one JSON object per line", "operations",
             choices=("human", "json")),
    Variable("LOG_DIR", "path", None, "also write rotating app.log, stream.log, errors.log here", "operations"),
    # Log files: 10 MB each, five old files kept per log.
    Variable("LOG_ROTATION_MB", "int", 10, "rotate a log file at this size", "operations", minimum=1),
    Variable("LOG_RETENTION_FILES", "int", 5, "rotated files kept per log", "operations", minimum=0),
    # Graceful stop: well inside Kubernetes' default 30 s terminationGracePeriodSeconds.
    _seconds("SHUTDOWN_TIMEOUT_SECONDS", 10.0, "ceiling of the graceful stop", 0.1, 3600, "operations"),
    # Reconnect backoff cap: an outage is noticed within one Kubernetes probe period.
    _seconds("RETRY_MAX_SECONDS", 30.0, "longest wait between reconnect attempts", 0.1, 3600, "operations"),
)
# fmt: on


def variable(name: str) -> Variable:
    """The catalogue row of ``name`` (KeyError for a variable the daemon does not read)."""
    for row in VARIABLES:
        if row.name == name:
            return row
    raise KeyError(name)


def default(name: str) -> Value:
    """The typed default of ``name``: what the daemon uses when the variable is unset."""
    return variable(name).default


def default_volumes() -> dict[str, int]:
    """The default seed volume of each table, in the order of TABLES."""
    volumes = {table: default(volume_variable(table)) for table in TABLES}
    return {table: rows for table, rows in volumes.items() if isinstance(rows, int)}
