"""The environment a test may not inherit: the daemon's variables and libpq's defaults."""

from __future__ import annotations

from collections.abc import Mapping

from daemon.catalogue import VARIABLES

# Every variable of the catalogue, plus the families the daemon reads or may read later.
PROJECT_VARS = frozenset(var.name for var in VARIABLES) | {"PG_BIN_DIR"}
PROJECT_PREFIXES = ("PG_", "STREAM_", "SEED_", "LOG_", "CDC_", "HTTP_", "LEDGER_", "SHUTDOWN_", "RETRY_", "SUMMARY_")
# libpq reads these as connection defaults (psycopg2 too): a developer's PGHOST/PGOPTIONS must not apply.
LIBPQ_VARS = frozenset(
    {
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGOPTIONS",
        "PGAPPNAME",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLCRL",
        "PGSSLCRLDIR",
        "PGSSLSNI",
        "PGSSLNEGOTIATION",
        "PGSSLCERTMODE",
        "PGSSLMINPROTOCOLVERSION",
        "PGSSLMAXPROTOCOLVERSION",
        "PGGSSENCMODE",
        "PGREQUIREAUTH",
        "PGREQUIRESSL",
        "PGCONNECT_TIMEOUT",
        "PGTARGETSESSIONATTRS",
        "PGTZ",
        "PGCLIENTENCODING",
    }
)


def is_leaky(name: str) -> bool:
    return name in PROJECT_VARS or name in LIBPQ_VARS or name.startswith(PROJECT_PREFIXES)


def leaky(environ: Mapping[str, str]) -> list[str]:
    """The names in ``environ`` a test must not inherit."""
    return [name for name in environ if is_leaky(name)]


def clean(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` without them."""
    return {k: v for k, v in environ.items() if not is_leaky(k)}
