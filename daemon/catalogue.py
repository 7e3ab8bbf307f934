"""Every environment variable the daemon reads: (name, type, default, meaning), grouped by topic.

README's configuration table, docker/simulator.env.example and k8s/configmap.yaml are checked
against this list by tests.
"""

from __future__ import annotations

from daemon import defaults as d

_W = d.INSERT_WEIGHTS | d.ENROLMENT_WEIGHT


def _pairs(weights: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in weights.items())


VARIABLES: tuple[tuple[str, str, str, str], ...] = (
    # -- database ---------------------------------------------------------------------------
    ("PG_HOST", "str", "localhost", "PostgreSQL host"),
    ("PG_PORT", "int", "5432", "PostgreSQL port (1-65535)"),
    ("PG_USER", "str", "postgres", "database role"),
    ("PG_PASSWORD", "str", "(empty)", "password; never logged"),
    ("PG_DATABASE", "str", "postgres", "database name"),
    ("PG_CONNECT_TIMEOUT", "int", str(d.PG_CONNECT_TIMEOUT_SECONDS), "seconds to wait for a connection"),
    ("PG_STATEMENT_TIMEOUT_MS", "int", str(d.PG_STATEMENT_TIMEOUT_MS), "statement_timeout per session (0 = none)"),
    ("PG_APPLICATION_NAME", "str", d.APPLICATION_NAME, "application_name in pg_stat_activity (e.g. the pod name)"),
    # -- stream -----------------------------------------------------------------------------
    ("STREAM_INTERVAL_SECONDS", "float", "2", "seconds between stream ticks (0.001-86400)"),
    ("MAX_JITTER_MS", "int", str(d.MAX_JITTER_MS), "random delay of up to this many ms added to each tick"),
    ("EVENTS_PER_TICK", "int", str(d.EVENTS_PER_TICK), "events per tick, each its own transaction (1-100000)"),
    ("STREAM_OP_WEIGHTS", "map", _pairs(d.OP_WEIGHTS), "mix of operations; insert=1 reproduces the predecessor"),
    ("STREAM_INSERT_WEIGHTS", "map", _pairs(_W), "mix inside inserts (pacientes_convenios = enrolment)"),
    ("STREAM_UPDATE_WEIGHTS", "map", _pairs(d.UPDATE_WEIGHTS), "mix inside updates"),
    ("STREAM_DELETE_WEIGHTS", "map", _pairs(d.DELETE_WEIGHTS), "mix inside deletes"),
    ("STREAM_RETENTION_DAYS", "int", str(d.RETENTION_DAYS), "cancelled consultas older than this may be deleted"),
    ("STREAM_TOAST_SHARE", "float", str(d.TOAST_SHARE), "share of exam results that are long (TOASTed) reports"),
    ("STREAM_RATE", "float", "0", "target events/s (e.g. 0.1-1000; 0 = interval mode); ticks every 0.1 s"),
    ("STREAM_ARRIVALS", "str", "uniform", "uniform or poisson arrivals in rate mode"),
    ("STREAM_BURST_MULTIPLIER", "float", "1", "rate multiplier during bursts (1 = no bursts)"),
    ("STREAM_BURST_SECONDS", "float", "0", "length of each burst"),
    ("STREAM_BURST_EVERY_SECONDS", "float", "0", "a burst starts every this many seconds"),
    ("STREAM_PROFILE", "str", "flat", "flat, or clinic: busy clinic hours, quiet nights (Brasília time)"),
    ("STREAM_WRITERS", "int", str(d.WRITERS), "writer connections (1-64); one event = one transaction"),
    ("SUMMARY_EVERY_TICKS", "int", str(d.SUMMARY_EVERY_TICKS), "ticks between summary lines (x10 in rate mode)"),
    # -- seed -------------------------------------------------------------------------------
    ("BATCH_SIZE", "int", str(d.BATCH_SIZE), "rows per COPY chunk while seeding (1-1000000)"),
    *((f"SEED_{table.upper()}", "int", str(n), f"seed volume of {table}") for table, n in d.SEED_VOLUMES.items()),
    ("SEED_SCALE", "float", "1", "factor applied to every SEED_* volume (0-1000, > 0)"),
    ("RANDOM_SEED", "int", "(random)", "fixes the data generators: same seed, same rows"),
    # -- CDC --------------------------------------------------------------------------------
    ("CDC_PUBLICATION", "str", "(none)", "create/complete this publication for the 7 tables at bootstrap"),
    ("CDC_REPLICA_IDENTITY", "str", "(unchanged)", "default or full: REPLICA IDENTITY set on the 7 tables"),
    ("CDC_HEARTBEAT_TABLE", "str", "(none)", "create this table for Debezium's heartbeat.action.query"),
    ("LEDGER_FILE", "path", "(none)", "append one JSON line per committed change (ground truth for verify)"),
    # -- operations -------------------------------------------------------------------------
    ("HTTP_HOST", "str", "0.0.0.0", "address of the probe/metrics server"),
    ("HTTP_PORT", "int", str(d.HTTP_PORT), "port of /healthz, /readyz, /metrics (0 = off)"),
    ("LOG_LEVEL", "str", "INFO", "TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL"),
    ("LOG_FORMAT", "str", "human", "human or json (one JSON object per line)"),
    ("LOG_DIR", "path", "(none)", "also write rotating app.log, stream.log, errors.log here"),
    ("LOG_ROTATION_MB", "int", str(d.LOG_ROTATION_MB), "rotate a log file at this size"),
    ("LOG_RETENTION_FILES", "int", str(d.LOG_RETENTION_FILES), "rotated files kept per log"),
    ("SHUTDOWN_TIMEOUT_SECONDS", "float", f"{d.SHUTDOWN_TIMEOUT_SECONDS:g}", "ceiling of the graceful stop"),
    ("RETRY_MAX_SECONDS", "float", f"{d.RETRY_MAX_SECONDS:g}", "longest wait between reconnect attempts"),
)
