"""Configuration: read once from the environment (and an optional .env) into a frozen object.

Every invalid variable is collected and reported together (``ConfigError``); nothing is read at
import time. The catalogue of variables lives in ``daemon.catalogue``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from environs import Env, EnvValidationError
from marshmallow.validate import Length, OneOf, Range

from daemon import defaults
from daemon.catalogue import VARIABLES  # noqa: F401 - re-exported for callers and tests
from daemon.errors import ConfigError
from daemon.weights import parse_weights

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("human", "json")
REPLICA_IDENTITIES = ("default", "full")
ARRIVALS = ("uniform", "poisson")
PROFILES = ("flat", "clinic")
MAX_SEED_ROWS = 100_000_000  # CPFs are derived from ids; keep far below the 10^9 CPF space.
_NEED_PACIENTES = ("pacientes_convenios", "consultas", "exames", "internacoes")


@dataclass(frozen=True)
class PgSettings:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    connect_timeout: int
    statement_timeout_ms: int
    application_name: str

    def describe(self) -> str:
        """Where we connect, for logs: never includes the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class StreamSettings:
    interval_seconds: float
    max_jitter_ms: int
    events_per_tick: int
    op_weights: Mapping[str, float]
    insert_weights: Mapping[str, float]
    update_weights: Mapping[str, float]
    delete_weights: Mapping[str, float]
    retention_days: int
    toast_share: float
    summary_every_ticks: int
    rate: float = 0.0
    arrivals: str = "uniform"
    burst: tuple[float, float, float] = (1.0, 0.0, 0.0)  # multiplier, seconds, every seconds
    profile: str = "flat"
    writers: int = 1


@dataclass(frozen=True)
class SeedSettings:
    volumes: Mapping[str, int]
    scale: float
    batch_size: int
    random_seed: int | None

    def scaled(self) -> dict[str, int]:
        """Volumes multiplied by the scale factor (convênios never below the two lookups)."""
        out = {name: int(round(n * self.scale)) for name, n in self.volumes.items()}
        out["convenios"] = max(out["convenios"], min(self.volumes["convenios"], 2))
        return out


@dataclass(frozen=True)
class CdcSettings:
    publication: str | None
    replica_identity: str | None
    heartbeat_table: str | None
    ledger_file: Path | None


@dataclass(frozen=True)
class LogSettings:
    level: str
    format: str
    directory: Path | None
    rotation_mb: int
    retention_files: int


@dataclass(frozen=True)
class Config:
    pg: PgSettings
    stream: StreamSettings
    seed: SeedSettings
    cdc: CdcSettings
    log: LogSettings
    http_host: str
    http_port: int
    shutdown_timeout_seconds: float
    retry_max_seconds: float


def load_config(dotenv: Path | None = Path(".env")) -> Config:
    """Parse the environment (after ``dotenv``, which never overrides real variables).

    Raises ConfigError listing every invalid variable.
    """
    env = Env(eager=False)
    if dotenv is not None and dotenv.is_file():
        env.read_env(str(dotenv), recurse=False, override=False)
    build, extra = _parse(env)
    try:
        env.seal()
        problems: dict[str, str] = {}
    except EnvValidationError as exc:
        problems = {name: _with_value(name, "; ".join(_flatten(msgs))) for name, msgs in exc.error_messages.items()}
    for name, message in extra.items():
        problems.setdefault(name, message)
    if problems:
        raise ConfigError(problems)
    return build()


_TYPE_MESSAGES = {
    "Not a valid integer.": "must be an integer",
    "Not a valid number.": "must be a number",
    "Not a valid boolean.": "must be true or false",
}


def _with_value(name: str, message: str) -> str:
    """Say what is allowed in plain words and quote the offending value, except for secrets."""
    for environs_text, plain in _TYPE_MESSAGES.items():
        message = message.replace(environs_text, plain)
    raw = os.environ.get(name)
    if raw is None or "PASSWORD" in name:
        return message
    return f"{message.rstrip('.')} (got {raw!r})"


def _flatten(messages: object) -> list[str]:
    if isinstance(messages, list | tuple):
        return [m for item in messages for m in _flatten(item)]
    if isinstance(messages, dict):
        return [m for item in messages.values() for m in _flatten(item)]
    return [str(messages)]


def _between(low: float, high: float, what: str = "") -> Range:
    return Range(min=low, max=high, error=f"must be {what}between {low:g} and {high:g}")


def _parse(env: Env) -> tuple[Callable[[], Config], dict[str, str]]:
    """Declare every variable; return a builder (run after validation) and cross-field problems."""
    extra: dict[str, str] = {}
    positive = Range(min=1, error="must be >= 1")
    identifier = Length(min=1, max=63, error="must be 1-63 characters (a PostgreSQL identifier)")

    pg = dict(
        host=env.str("PG_HOST", "localhost"),
        port=env.int("PG_PORT", 5432, validate=_between(1, 65535, "a port number ")),
        user=env.str("PG_USER", "postgres"),
        password=env.str("PG_PASSWORD", ""),
        database=env.str("PG_DATABASE", "postgres"),
        connect_timeout=env.int("PG_CONNECT_TIMEOUT", defaults.PG_CONNECT_TIMEOUT_SECONDS, validate=positive),
        statement_timeout_ms=env.int(
            "PG_STATEMENT_TIMEOUT_MS", defaults.PG_STATEMENT_TIMEOUT_MS, validate=Range(min=0, error="must be >= 0")
        ),
        application_name=env.str("PG_APPLICATION_NAME", defaults.APPLICATION_NAME),
    )
    if not str(pg["host"]).strip():
        extra["PG_HOST"] = "must not be empty"

    def weights(name: str, default: Mapping[str, float]) -> dict[str, float]:
        raw = env.str(name, None)
        if raw is None:
            return dict(default)
        parsed, problem = parse_weights(raw, default)
        if problem:
            extra[name] = problem
        return parsed

    op_weights = weights("STREAM_OP_WEIGHTS", defaults.OP_WEIGHTS)
    insert_defaults = defaults.INSERT_WEIGHTS | defaults.ENROLMENT_WEIGHT
    insert_weights = weights("STREAM_INSERT_WEIGHTS", insert_defaults)
    if env.str("STREAM_INSERT_WEIGHTS", None) is None and set(k for k, w in op_weights.items() if w) == {"insert"}:
        insert_weights = {**insert_weights, "pacientes_convenios": 0.0}  # insert-only: the predecessor's mix
    stream = dict(
        interval_seconds=env.float(
            "STREAM_INTERVAL_SECONDS",
            defaults.STREAM_INTERVAL_SECONDS,
            validate=_between(0.001, 86_400, "a number of seconds "),
        ),
        max_jitter_ms=env.int("MAX_JITTER_MS", defaults.MAX_JITTER_MS, validate=_between(0, 3_600_000, "ms ")),
        events_per_tick=env.int("EVENTS_PER_TICK", defaults.EVENTS_PER_TICK, validate=_between(1, 100_000)),
        op_weights=op_weights,
        insert_weights=insert_weights,
        update_weights=weights("STREAM_UPDATE_WEIGHTS", defaults.UPDATE_WEIGHTS),
        delete_weights=weights("STREAM_DELETE_WEIGHTS", defaults.DELETE_WEIGHTS),
        retention_days=env.int("STREAM_RETENTION_DAYS", defaults.RETENTION_DAYS, validate=_between(0, 36_500, "days ")),
        toast_share=env.float("STREAM_TOAST_SHARE", defaults.TOAST_SHARE, validate=_between(0, 1, "a share ")),
        summary_every_ticks=env.int("SUMMARY_EVERY_TICKS", defaults.SUMMARY_EVERY_TICKS, validate=positive),
        rate=env.float(
            "STREAM_RATE",
            0.0,
            validate=Range(min=0, max=1_000_000, error="must be events/s between 0 (off: interval mode) and 1000000"),
        ),
        arrivals=env.str("STREAM_ARRIVALS", "uniform", validate=OneOf(ARRIVALS, error="must be uniform or poisson")),
        burst=(
            env.float("STREAM_BURST_MULTIPLIER", 1.0, validate=_between(0, 1000, "a multiplier ")),
            env.float("STREAM_BURST_SECONDS", 0.0, validate=_between(0, 86_400, "seconds ")),
            env.float("STREAM_BURST_EVERY_SECONDS", 0.0, validate=_between(0, 86_400, "seconds ")),
        ),
        profile=env.str("STREAM_PROFILE", "flat", validate=OneOf(PROFILES, error="must be flat or clinic")),
        writers=env.int("STREAM_WRITERS", defaults.WRITERS, validate=_between(1, 64)),
    )
    burst = stream["burst"]
    if all(isinstance(v, float) for v in burst) and burst[0] != 1 and burst[1] > burst[2]:
        extra["STREAM_BURST_SECONDS"] = "must not exceed STREAM_BURST_EVERY_SECONDS"

    volume_range = _between(0, MAX_SEED_ROWS, "a row count ")
    volumes = {t: env.int(f"SEED_{t.upper()}", n, validate=volume_range) for t, n in defaults.SEED_VOLUMES.items()}
    scale = env.float(
        "SEED_SCALE", 1.0, validate=Range(min=0, min_inclusive=False, max=1000, error="must be > 0 and <= 1000")
    )
    seed = dict(
        volumes=volumes,
        scale=scale,
        batch_size=env.int("BATCH_SIZE", defaults.BATCH_SIZE, validate=_between(1, 1_000_000)),
        random_seed=env.int("RANDOM_SEED", None),
    )
    _check_volumes(volumes, scale, extra)

    identity = env.str(
        "CDC_REPLICA_IDENTITY", None, validate=OneOf(REPLICA_IDENTITIES, error="must be default or full")
    )
    cdc = dict(
        publication=env.str("CDC_PUBLICATION", None, validate=identifier) or None,
        replica_identity=identity,
        heartbeat_table=env.str("CDC_HEARTBEAT_TABLE", None, validate=identifier) or None,
        ledger_file=env.path("LEDGER_FILE", None),
    )

    _check_writable_file("LEDGER_FILE", cdc["ledger_file"], extra)

    log = dict(
        level=env.str(
            "LOG_LEVEL",
            "INFO",
            validate=OneOf(
                [*LOG_LEVELS, *(lv.lower() for lv in LOG_LEVELS)], error=f"must be one of {', '.join(LOG_LEVELS)}"
            ),
        ),
        format=env.str("LOG_FORMAT", "human", validate=OneOf(LOG_FORMATS, error="must be human or json")),
        directory=env.path("LOG_DIR", None),
        rotation_mb=env.int("LOG_ROTATION_MB", defaults.LOG_ROTATION_MB, validate=positive),
        retention_files=env.int(
            "LOG_RETENTION_FILES", defaults.LOG_RETENTION_FILES, validate=Range(min=0, error="must be >= 0")
        ),
    )
    http_host = env.str("HTTP_HOST", "0.0.0.0")
    http_port = env.int("HTTP_PORT", defaults.HTTP_PORT, validate=_between(0, 65535, "a port number (0 = off) "))
    shutdown = env.float(
        "SHUTDOWN_TIMEOUT_SECONDS", defaults.SHUTDOWN_TIMEOUT_SECONDS, validate=_between(0.1, 3600, "seconds ")
    )
    retry_max = env.float("RETRY_MAX_SECONDS", defaults.RETRY_MAX_SECONDS, validate=_between(0.1, 3600, "seconds "))

    def build() -> Config:
        return Config(
            pg=PgSettings(**pg),
            stream=StreamSettings(**stream),
            seed=SeedSettings(**seed),
            cdc=CdcSettings(**cdc),
            log=LogSettings(**{**log, "level": log["level"].upper()}),
            http_host=http_host,
            http_port=http_port,
            shutdown_timeout_seconds=shutdown,
            retry_max_seconds=retry_max,
        )

    return build, extra


def _check_writable_file(name: str, path: object, extra: dict[str, str]) -> None:
    """A file we will append to: its directory must exist (or be creatable) and be writable."""
    if not isinstance(path, Path):
        return
    if path.is_dir():
        extra[name] = f"must be a file path, not a directory (got {str(path)!r})"
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the first existing ancestor is where the directories get created
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        extra[name] = f"must be in a writable directory (got {str(path)!r})"


def _check_volumes(volumes: dict[str, object], scale: object, extra: dict[str, str]) -> None:
    """Volumes that cannot be loaded together (e.g. consultas without pacientes)."""
    if not all(isinstance(v, int) for v in volumes.values()) or not isinstance(scale, float):
        return  # already reported as invalid
    scaled = {t: int(round(n * scale)) for t, n in volumes.items()}  # type: ignore[operator]
    if scaled["pacientes"] == 0:
        for table in _NEED_PACIENTES:
            if scaled[table] > 0:
                extra[f"SEED_{table.upper()}"] = "must be 0 when SEED_PACIENTES is 0 (its rows reference pacientes)"
    if scaled["medicos"] == 0 and scaled["consultas"] > 0:
        extra["SEED_CONSULTAS"] = "must be 0 when SEED_MEDICOS is 0 (consultas reference medicos)"
    pairs = scaled["pacientes"] * max(scaled["convenios"], 2)
    if scaled["pacientes_convenios"] > pairs:
        extra["SEED_PACIENTES_CONVENIOS"] = f"must be <= pacientes x convenios ({pairs}): each pair is unique"
    if sum(scaled.values()) > MAX_SEED_ROWS:
        extra["SEED_SCALE"] = f"scaled volumes exceed {MAX_SEED_ROWS} rows in total"
