"""Names users' Debezium configs and sinks depend on: the seven tables and nine indexes."""

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
