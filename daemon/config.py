"""Configuration: read once from the environment (and an optional .env) into a frozen object.

Every invalid variable is collected and reported together (``ConfigError``); nothing is read at
import time. README's configuration table is checked against ``VARIABLES`` by a test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from environs import Env, EnvValidationError
from marshmallow.validate import OneOf, Range

from daemon import defaults
from daemon.errors import ConfigError

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("human", "json")
MAX_SEED_ROWS = 100_000_000  # CPFs are derived from ids; keep far below the 10^9 CPF space.


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
    insert_weights: Mapping[str, float]
    summary_every_ticks: int


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
    log: LogSettings
    shutdown_timeout_seconds: float
    retry_max_seconds: float


# Every variable the daemon reads: (name, type, default, meaning). README's table mirrors this.
VARIABLES: tuple[tuple[str, str, str, str], ...] = (
    ("PG_HOST", "str", "localhost", "PostgreSQL host"),
    ("PG_PORT", "int", "5432", "PostgreSQL port (1-65535)"),
    ("PG_USER", "str", "postgres", "database role"),
    ("PG_PASSWORD", "str", "(empty)", "password; never logged"),
    ("PG_DATABASE", "str", "postgres", "database name"),
    ("PG_CONNECT_TIMEOUT", "int", str(defaults.PG_CONNECT_TIMEOUT_SECONDS), "seconds to wait for a connection"),
    (
        "PG_STATEMENT_TIMEOUT_MS",
        "int",
        str(defaults.PG_STATEMENT_TIMEOUT_MS),
        "statement_timeout of every session (0 = none)",
    ),
    (
        "PG_APPLICATION_NAME",
        "str",
        defaults.APPLICATION_NAME,
        "application_name shown in pg_stat_activity (set it to the pod name)",
    ),
    ("STREAM_INTERVAL_SECONDS", "float", "2", "seconds between stream ticks (> 0)"),
    (
        "MAX_JITTER_MS",
        "int",
        str(defaults.MAX_JITTER_MS),
        "random delay of up to this many ms added to each tick (>= 0)",
    ),
    ("EVENTS_PER_TICK", "int", str(defaults.EVENTS_PER_TICK), "events per tick, each its own transaction (>= 1)"),
    (
        "STREAM_INSERT_WEIGHTS",
        "map",
        "consultas=55,exames=25,internacoes=15,pacientes=10",
        "relative mix of insert events",
    ),
    ("SUMMARY_EVERY_TICKS", "int", str(defaults.SUMMARY_EVERY_TICKS), "ticks between summary lines"),
    ("BATCH_SIZE", "int", str(defaults.BATCH_SIZE), "rows per COPY chunk while seeding (>= 1)"),
    ("SEED_PACIENTES", "int", "2000", "seed volume"),
    ("SEED_MEDICOS", "int", "200", "seed volume"),
    ("SEED_CONVENIOS", "int", "12", "seed volume (total, including the SUS and SaudePlus lookups)"),
    ("SEED_PACIENTES_CONVENIOS", "int", "2500", "seed volume (<= pacientes x convenios)"),
    ("SEED_CONSULTAS", "int", "4000", "seed volume"),
    ("SEED_EXAMES", "int", "3500", "seed volume"),
    ("SEED_INTERNACOES", "int", "1200", "seed volume"),
    ("SEED_SCALE", "float", "1", "factor applied to every SEED_* volume (> 0)"),
    ("RANDOM_SEED", "int", "(random)", "fixes the data generators: same seed, same rows"),
    ("LOG_LEVEL", "str", "INFO", "TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL"),
    ("LOG_FORMAT", "str", "human", "human or json (one JSON object per line)"),
    ("LOG_DIR", "path", "(none)", "also write app.log, stream.log, errors.log here"),
    ("LOG_ROTATION_MB", "int", str(defaults.LOG_ROTATION_MB), "rotate a log file at this size"),
    ("LOG_RETENTION_FILES", "int", str(defaults.LOG_RETENTION_FILES), "rotated files kept per log"),
    ("SHUTDOWN_TIMEOUT_SECONDS", "float", str(defaults.SHUTDOWN_TIMEOUT_SECONDS), "ceiling of the graceful stop"),
    ("RETRY_MAX_SECONDS", "float", str(defaults.RETRY_MAX_SECONDS), "longest wait between reconnect attempts"),
)

_DATA_TABLES_NEEDING_PACIENTES = ("pacientes_convenios", "consultas", "exames", "internacoes")


def load_config(dotenv: Path | None = Path(".env")) -> Config:
    """Parse the environment (after ``dotenv``, which never overrides real variables).

    Raises ConfigError listing every invalid variable.
    """
    env = Env(eager=False)
    if dotenv is not None and dotenv.is_file():
        env.read_env(str(dotenv), recurse=False, override=False)
    config, extra = _parse(env)
    try:
        env.seal()
        problems: dict[str, str] = {}
    except EnvValidationError as exc:
        problems = {name: _with_value(name, "; ".join(_flatten(msgs))) for name, msgs in exc.error_messages.items()}
    for name, message in extra.items():
        problems.setdefault(name, message)
    if problems:
        raise ConfigError(problems)
    return config()


def _with_value(name: str, message: str) -> str:
    """Quote the offending value in the message, except for secrets."""
    raw = os.environ.get(name)
    if raw is None or "PASSWORD" in name:
        return message
    return f"{message.rstrip('.')} (got {raw!r})"


def _flatten(messages: object) -> list[str]:
    if isinstance(messages, (list, tuple)):
        return [m for item in messages for m in _flatten(item)]
    if isinstance(messages, dict):
        return [m for item in messages.values() for m in _flatten(item)]
    return [str(messages)]


def _parse(env: Env):
    """Declare every variable; return a builder (run after validation) and cross-field problems."""
    positive = Range(min=1, error="must be >= 1")
    non_negative = Range(min=0, error="must be >= 0")
    extra: dict[str, str] = {}

    host = env.str("PG_HOST", "localhost")
    port = env.int("PG_PORT", 5432, validate=Range(min=1, max=65535, error="must be a port number 1-65535"))
    user = env.str("PG_USER", "postgres")
    password = env.str("PG_PASSWORD", "")
    database = env.str("PG_DATABASE", "postgres")
    connect_timeout = env.int("PG_CONNECT_TIMEOUT", defaults.PG_CONNECT_TIMEOUT_SECONDS, validate=positive)
    statement_timeout = env.int("PG_STATEMENT_TIMEOUT_MS", defaults.PG_STATEMENT_TIMEOUT_MS, validate=non_negative)
    app_name = env.str("PG_APPLICATION_NAME", defaults.APPLICATION_NAME)

    interval = env.float(
        "STREAM_INTERVAL_SECONDS",
        defaults.STREAM_INTERVAL_SECONDS,
        validate=Range(min=0.001, max=86_400, error="must be a number of seconds between 0.001 and 86400"),
    )
    jitter = env.int(
        "MAX_JITTER_MS",
        defaults.MAX_JITTER_MS,
        validate=Range(min=0, max=3_600_000, error="must be milliseconds between 0 and 3600000"),
    )
    per_tick = env.int(
        "EVENTS_PER_TICK",
        defaults.EVENTS_PER_TICK,
        validate=Range(min=1, max=100_000, error="must be between 1 and 100000"),
    )
    insert_weights = _weights(env, "STREAM_INSERT_WEIGHTS", defaults.INSERT_WEIGHTS, extra)
    summary_every = env.int("SUMMARY_EVERY_TICKS", defaults.SUMMARY_EVERY_TICKS, validate=positive)

    batch_size = env.int(
        "BATCH_SIZE", defaults.BATCH_SIZE, validate=Range(min=1, max=1_000_000, error="must be between 1 and 1000000")
    )
    volume_range = Range(min=0, max=MAX_SEED_ROWS, error=f"must be a row count between 0 and {MAX_SEED_ROWS}")
    volumes = {
        table: env.int(f"SEED_{table.upper()}", default, validate=volume_range)
        for table, default in defaults.SEED_VOLUMES.items()
    }
    scale = env.float(
        "SEED_SCALE", 1.0, validate=Range(min=0, min_inclusive=False, max=1000, error="must be > 0 and <= 1000")
    )
    random_seed = env.int("RANDOM_SEED", None)

    level = env.str(
        "LOG_LEVEL",
        "INFO",
        validate=OneOf(
            [*LOG_LEVELS, *(lv.lower() for lv in LOG_LEVELS)], error=f"must be one of {', '.join(LOG_LEVELS)}"
        ),
    )
    log_format = env.str("LOG_FORMAT", "human", validate=OneOf(LOG_FORMATS, error="must be human or json"))
    log_dir = env.path("LOG_DIR", None)
    rotation_mb = env.int("LOG_ROTATION_MB", defaults.LOG_ROTATION_MB, validate=positive)
    retention = env.int("LOG_RETENTION_FILES", defaults.LOG_RETENTION_FILES, validate=non_negative)
    shutdown_timeout = env.float(
        "SHUTDOWN_TIMEOUT_SECONDS",
        defaults.SHUTDOWN_TIMEOUT_SECONDS,
        validate=Range(min=0.1, max=3600, error="must be seconds between 0.1 and 3600"),
    )
    retry_max = env.float(
        "RETRY_MAX_SECONDS",
        defaults.RETRY_MAX_SECONDS,
        validate=Range(min=0.1, max=3600, error="must be seconds between 0.1 and 3600"),
    )

    if not str(host).strip():
        extra["PG_HOST"] = "must not be empty"

    def cross_check() -> None:
        if not all(isinstance(v, int) for v in volumes.values()) or not isinstance(scale, float):
            return
        scaled = {t: int(round(n * scale)) for t, n in volumes.items()}
        if scaled["pacientes"] == 0:
            for table in _DATA_TABLES_NEEDING_PACIENTES:
                if scaled[table] > 0:
                    extra[f"SEED_{table.upper()}"] = "must be 0 when SEED_PACIENTES is 0 (its rows reference pacientes)"
        if scaled["medicos"] == 0 and scaled["consultas"] > 0:
            extra["SEED_CONSULTAS"] = "must be 0 when SEED_MEDICOS is 0 (consultas reference medicos)"
        pairs = scaled["pacientes"] * max(scaled["convenios"], 2)
        if scaled["pacientes_convenios"] > pairs:
            extra["SEED_PACIENTES_CONVENIOS"] = (
                f"must be <= pacientes x convenios ({pairs}): each (paciente, convenio) pair is unique"
            )
        if sum(scaled.values()) > MAX_SEED_ROWS:
            extra["SEED_SCALE"] = f"scaled volumes exceed {MAX_SEED_ROWS} rows in total"

    cross_check()

    def build() -> Config:
        return Config(
            pg=PgSettings(
                host=host,
                port=port,
                user=user,
                password=password,
                database=database,
                connect_timeout=connect_timeout,
                statement_timeout_ms=statement_timeout,
                application_name=app_name,
            ),
            stream=StreamSettings(
                interval_seconds=interval,
                max_jitter_ms=jitter,
                events_per_tick=per_tick,
                insert_weights=insert_weights,
                summary_every_ticks=summary_every,
            ),
            seed=SeedSettings(volumes=volumes, scale=scale, batch_size=batch_size, random_seed=random_seed),
            log=LogSettings(
                level=level.upper(),
                format=log_format,
                directory=log_dir,
                rotation_mb=rotation_mb,
                retention_files=retention,
            ),
            shutdown_timeout_seconds=shutdown_timeout,
            retry_max_seconds=retry_max,
        )

    return build, extra


def _weights(env: Env, name: str, default: Mapping[str, float], extra: dict[str, str]) -> dict[str, float]:
    """Parse ``key=weight,...``: known keys only, weights >= 0, not all zero. Missing keys weigh 0."""
    raw = env.str(name, None)
    if raw is None:
        return dict(default)
    allowed = ", ".join(default)
    weights: dict[str, float] = {key: 0.0 for key in default}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in default:
            extra[name] = f"must be key=weight pairs with keys among {allowed}; got {item!r}"
            return dict(default)
        try:
            weight = float(value)
        except ValueError:
            extra[name] = f"weight of {key!r} must be a number >= 0; got {value.strip()!r}"
            return dict(default)
        if weight < 0 or weight != weight or weight == float("inf"):
            extra[name] = f"weight of {key!r} must be a finite number >= 0; got {value.strip()!r}"
            return dict(default)
        weights[key] = weight
    if sum(weights.values()) <= 0:
        extra[name] = f"weights must not all be zero (keys: {allowed})"
        return dict(default)
    return weights
