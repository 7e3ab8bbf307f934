"""Names users' Debezium configs and sinks depend on: the seven tables and nine indexes, and the
opt-in SCHEMA_EXTRAS tables (``daemon.pg.extras``)."""

from __future__ import annotations

TABLES = ("pacientes", "medicos", "convenios", "pacientes_convenios", "consultas", "exames", "internacoes")
INDEXES = (
    "idx_pacientes_cpf",
    "idx_medicos_crm",
    "idx_consultas_paciente",
    "idx_consultas_medico",
    "idx_consultas_data",
    "idx_exames_paciente",
    "idx_exames_data",
    "idx_internacoes_paciente",
    "idx_internacoes_datas",
)


def quoted(identifier: str) -> str:
    """A configured identifier as SQL (double-quoted, quotes doubled), for SQL composed as text."""
    return '"' + identifier.replace('"', '""') + '"'


# Not a hospital table: each stream writer's last event (sql/04_stream_state.sql), never published.
WRITERS_TABLE = "hospital_sim_writers"


# SCHEMA_EXTRAS: opt-in tables, each created by sql/extra_<name>.sql, its table named like it.
EXTRAS = ("faturamento", "fila_triagem", "sinais_vitais")


def parse_extras(raw: str) -> tuple[tuple[str, ...], str | None]:
    """SCHEMA_EXTRAS's comma-separated names, in EXTRAS' order, or an error message."""
    names = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [name for name in names if name not in EXTRAS]
    if unknown:
        return (), f"must be a comma-separated list of {', '.join(EXTRAS)}; got {unknown[0]!r}"
    return tuple(name for name in EXTRAS if name in names), None
