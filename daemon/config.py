"""Configuration: read once from the environment (and an optional .env) into a frozen object.

Every variable is declared once, in ``daemon.catalogue``; this module reads each row with environs
(``Env(eager=False)`` + ``seal()``), applies the checks that span several variables, and reports
every invalid variable together (``ConfigError``). Nothing is read at import time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from environs import Env, EnvValidationError
from marshmallow.validate import Length, OneOf, Range, Validator

from daemon import catalogue
from daemon.catalogue import IDENTIFIER_LENGTH, MAX_SEED_ROWS, Variable, volume_variable
from daemon.errors import ConfigError
from daemon.pg.tables import TABLES, parse_extras

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
    sslmode: str = "prefer"
    sslrootcert: Path | None = None
    sslcert: Path | None = None
    sslkey: Path | None = None

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
    episode_weights: Mapping[str, float]
    episode_failure_share: float
    retention_days: int
    toast_share: float
    summary_every_ticks: int
    rate: float = 0.0
    arrivals: str = "uniform"
    burst: tuple[float, float, float] = (1.0, 0.0, 0.0)  # multiplier, seconds, every seconds
    profile: str = "flat"
    writers: int = 1
    extras: tuple[str, ...] = ()  # SCHEMA_EXTRAS: the opt-in tables present
    extra_weights: Mapping[str, float] = field(default_factory=dict)  # STREAM_EXTRA_WEIGHTS
    message_prefix: str = "hospital-sim"  # STREAM_MESSAGE_PREFIX
    ddl_every_seconds: float = 0.0  # STREAM_DDL_EVERY_SECONDS (0: no schema changes)


@dataclass(frozen=True)
class SchemaSettings:
    extras: tuple[str, ...] = ()  # SCHEMA_EXTRAS, in daemon.pg.tables.EXTRAS' order


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
    connector_role: str
    ledger_file: Path | None
    ledger_table: str | None = None
    publish_via_partition_root: bool = False  # CDC_PUBLISH_VIA_PARTITION_ROOT


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
    schema: SchemaSettings
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
    extra: dict[str, str] = {}
    values = {var.name: _read(env, var, extra) for var in catalogue.VARIABLES}
    _check_together(env, values, extra)
    try:
        env.seal()
        problems: dict[str, str] = {}
    except EnvValidationError as exc:
        by_name = exc.error_messages if isinstance(exc.error_messages, Mapping) else {}
        problems = {name: _with_value(name, "; ".join(_flatten(msgs))) for name, msgs in by_name.items()}
    for name, message in extra.items():
        problems.setdefault(name, message)
    if problems:
        raise ConfigError(problems)
    return _build(values)


def _build(v: Mapping[str, Any]) -> Config:
    """The typed config from the parsed values (all valid by now), keyed by variable name."""
    schema_extras = parse_extras(v["SCHEMA_EXTRAS"])[0]
    return Config(
        pg=PgSettings(
            host=v["PG_HOST"],
            port=v["PG_PORT"],
            user=v["PG_USER"],
            password=v["PG_PASSWORD"],
            database=v["PG_DATABASE"],
            connect_timeout=v["PG_CONNECT_TIMEOUT"],
            statement_timeout_ms=v["PG_STATEMENT_TIMEOUT_MS"],
            application_name=v["PG_APPLICATION_NAME"],
            sslmode=v["PG_SSLMODE"],
            sslrootcert=v["PG_SSLROOTCERT"],
            sslcert=v["PG_SSLCERT"],
            sslkey=v["PG_SSLKEY"],
        ),
        stream=StreamSettings(
            interval_seconds=v["STREAM_INTERVAL_SECONDS"],
            max_jitter_ms=v["MAX_JITTER_MS"],
            events_per_tick=v["EVENTS_PER_TICK"],
            op_weights=v["STREAM_OP_WEIGHTS"],
            insert_weights=v["STREAM_INSERT_WEIGHTS"],
            update_weights=v["STREAM_UPDATE_WEIGHTS"],
            delete_weights=v["STREAM_DELETE_WEIGHTS"],
            episode_weights=v["STREAM_EPISODE_WEIGHTS"],
            episode_failure_share=v["STREAM_EPISODE_FAILURE_SHARE"],
            retention_days=v["STREAM_RETENTION_DAYS"],
            toast_share=v["STREAM_TOAST_SHARE"],
            summary_every_ticks=v["SUMMARY_EVERY_TICKS"],
            rate=v["STREAM_RATE"],
            arrivals=v["STREAM_ARRIVALS"],
            burst=(v["STREAM_BURST_MULTIPLIER"], v["STREAM_BURST_SECONDS"], v["STREAM_BURST_EVERY_SECONDS"]),
            profile=v["STREAM_PROFILE"],
            writers=v["STREAM_WRITERS"],
            extras=schema_extras,
            extra_weights=v["STREAM_EXTRA_WEIGHTS"],
            message_prefix=v["STREAM_MESSAGE_PREFIX"],
            ddl_every_seconds=v["STREAM_DDL_EVERY_SECONDS"],
        ),
        seed=SeedSettings(
            volumes=_volumes(v),
            scale=v["SEED_SCALE"],
            batch_size=v["BATCH_SIZE"],
            random_seed=v["RANDOM_SEED"],
        ),
        cdc=CdcSettings(
            publication=v["CDC_PUBLICATION"],
            replica_identity=v["CDC_REPLICA_IDENTITY"],
            heartbeat_table=v["CDC_HEARTBEAT_TABLE"],
            connector_role=v["CDC_CONNECTOR_ROLE"],
            ledger_file=v["LEDGER_FILE"],
            ledger_table=v["LEDGER_TABLE"],
            publish_via_partition_root=v["CDC_PUBLISH_VIA_PARTITION_ROOT"] == "true",
        ),
        log=LogSettings(
            level=v["LOG_LEVEL"],
            format=v["LOG_FORMAT"],
            directory=v["LOG_DIR"],
            rotation_mb=v["LOG_ROTATION_MB"],
            retention_files=v["LOG_RETENTION_FILES"],
        ),
        schema=SchemaSettings(extras=schema_extras),
        http_host=v["HTTP_HOST"],
        http_port=v["HTTP_PORT"],
        shutdown_timeout_seconds=v["SHUTDOWN_TIMEOUT_SECONDS"],
        retry_max_seconds=v["RETRY_MAX_SECONDS"],
    )


def _volumes(values: Mapping[str, Any]) -> dict[str, Any]:
    return {table: values[volume_variable(table)] for table in TABLES}


# --------------------------------------------------------------------------- one variable
def _read(env: Env, var: Variable, extra: dict[str, str]) -> Any:
    """Declare ``var`` on ``env``: its value, or None when invalid (environs keeps the error)."""
    if var.type == "map":
        return _read_map(env, var, extra)
    readers: dict[str, Callable[..., Any]] = {"str": env.str, "int": env.int, "float": env.float, "path": env.path}
    read = readers[var.type]
    value = read(var.name, var.default, validate=_validators(var))
    if var.any_case and isinstance(value, str):
        value = {choice.lower(): choice for choice in var.choices}.get(value.lower(), value)
    if var.check is not None:
        problem = var.check(value)
        if problem:
            extra[var.name] = problem
    return value


def _validators(var: Variable) -> list[Validator]:
    validators: list[Validator] = []
    if var.minimum is not None:
        validators.append(Range(min=var.minimum, max=var.maximum, min_inclusive=not var.above, error=var.range_error))
    if var.choices:
        accepted = [*var.choices, *(c.lower() for c in var.choices if var.any_case)]
        validators.append(OneOf(accepted, error=var.choice_error))
    if var.identifier:
        error = f"must be 1-{IDENTIFIER_LENGTH} characters (a PostgreSQL identifier)"
        validators.append(Length(min=1, max=IDENTIFIER_LENGTH, error=error))
    return validators


def _read_map(env: Env, var: Variable, extra: dict[str, str]) -> dict[str, float]:
    """A ``key=weight,...`` mix: the default's keys are the allowed ones."""
    allowed: Mapping[str, float] = var.default if isinstance(var.default, Mapping) else {}
    raw = env.str(var.name, None)
    if raw is None:
        return dict(allowed)
    weights, problem = parse_weights(raw, allowed, zero_ok=var.zero_ok)
    if problem:
        extra[var.name] = problem
    return weights


def parse_weights(raw: str, allowed: Mapping[str, float], zero_ok: bool = False) -> tuple[dict[str, float], str | None]:
    """Weights for the keys of ``allowed`` (missing keys weigh 0), or an error message.

    Rules: known keys only, finite numbers >= 0, not all zero (unless ``zero_ok``).
    """
    names = ", ".join(allowed)
    weights = dict.fromkeys(allowed, 0.0)
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            return dict(allowed), f"must be key=weight pairs with keys among {names}; got {item!r}"
        try:
            weight = float(value)
        except ValueError:
            return dict(allowed), f"weight of {key!r} must be a number >= 0; got {value.strip()!r}"
        if not math.isfinite(weight) or weight < 0:
            return dict(allowed), f"weight of {key!r} must be a finite number >= 0; got {value.strip()!r}"
        weights[key] = weight
    if sum(weights.values()) <= 0 and not zero_ok:
        return dict(allowed), f"weights must not all be zero (keys: {names})"
    return weights, None


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


# --------------------------------------------------------------------------- several variables
def _check_together(env: Env, values: dict[str, Any], extra: dict[str, str]) -> None:
    """Rules that span variables; an invalid value (None) was reported already and is skipped."""
    ops = values["STREAM_OP_WEIGHTS"]
    if env.str("STREAM_INSERT_WEIGHTS", None) is None and {k for k, w in ops.items() if w} == {"insert"}:
        # Insert-only: the predecessor's mix exactly, without convênio enrolments.
        values["STREAM_INSERT_WEIGHTS"] = {**values["STREAM_INSERT_WEIGHTS"], "pacientes_convenios": 0.0}
    burst = [values[f"STREAM_BURST_{part}"] for part in ("MULTIPLIER", "SECONDS", "EVERY_SECONDS")]
    if all(isinstance(b, int | float) for b in burst) and burst[0] != 1 and burst[1] > burst[2]:
        extra["STREAM_BURST_SECONDS"] = "must not exceed STREAM_BURST_EVERY_SECONDS"
    _check_volumes(_volumes(values), values["SEED_SCALE"], extra)
    _password_from_file(values, extra)
    extras = values["SCHEMA_EXTRAS"]
    if values["STREAM_DDL_EVERY_SECONDS"] and isinstance(extras, str) and "faturamento" not in parse_extras(extras)[0]:
        extra["STREAM_DDL_EVERY_SECONDS"] = "must be 0 unless SCHEMA_EXTRAS includes faturamento (the table it changes)"
    system = catalogue.SYSTEM_ROOTS
    if values["PG_SSLROOTCERT"] == Path(system) and values["PG_SSLMODE"] != "verify-full":
        extra["PG_SSLMODE"] = f"must be verify-full with PG_SSLROOTCERT={system} (libpq refuses weaker modes)"


def _password_from_file(values: dict[str, Any], extra: dict[str, str]) -> None:
    """PG_PASSWORD_FILE's content becomes the password (read once, here); its text is never quoted."""
    path = values["PG_PASSWORD_FILE"]
    if path is None or "PG_PASSWORD_FILE" in extra:
        return
    if values["PG_PASSWORD"]:
        extra["PG_PASSWORD_FILE"] = "must not be set together with PG_PASSWORD (unset one of them)"
        return
    try:
        text = path.read_bytes().decode("utf-8")  # bytes: no newline translation inside the password
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        extra["PG_PASSWORD_FILE"] = f"must be a readable file: {reason} (got {str(path)!r})"
        return
    # Exactly one line ending (what an editor or `echo` adds); anything else belongs to the password.
    password = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if not password:
        extra["PG_PASSWORD_FILE"] = f"must hold the password: {str(path)!r} is empty"
        return
    values["PG_PASSWORD"] = password


def _check_volumes(volumes: Mapping[str, object], scale: object, extra: dict[str, str]) -> None:
    """Volumes that cannot be loaded together (e.g. consultas without pacientes)."""
    if not all(isinstance(v, int) for v in volumes.values()) or not isinstance(scale, int | float):
        return  # already reported as invalid
    scaled = {t: int(round(n * scale)) for t, n in volumes.items() if isinstance(n, int)}
    if scaled["pacientes"] == 0:
        for table in _NEED_PACIENTES:
            if scaled[table] > 0:
                extra[volume_variable(table)] = "must be 0 when SEED_PACIENTES is 0 (its rows reference pacientes)"
    if scaled["medicos"] == 0 and scaled["consultas"] > 0:
        extra["SEED_CONSULTAS"] = "must be 0 when SEED_MEDICOS is 0 (consultas reference medicos)"
    pairs = scaled["pacientes"] * max(scaled["convenios"], 2)
    if scaled["pacientes_convenios"] > pairs:
        extra["SEED_PACIENTES_CONVENIOS"] = f"must be <= pacientes x convenios ({pairs}): each pair is unique"
    if sum(scaled.values()) > MAX_SEED_ROWS:
        extra["SEED_SCALE"] = f"scaled volumes exceed {MAX_SEED_ROWS} rows in total"
