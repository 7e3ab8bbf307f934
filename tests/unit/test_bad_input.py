"""Table-driven: every variable with wrong input gives a ConfigError naming it and what is allowed."""

from __future__ import annotations

import pytest

from daemon.catalogue import VARIABLES
from daemon.config import load_config
from daemon.errors import ConfigError

# variable -> bad values (wrong type, out of range, unknown name...)
BAD: dict[str, list[str]] = {
    "PG_HOST": [" "],
    "PG_PORT": ["abc", "0", "70000", "-1"],
    "PG_CONNECT_TIMEOUT": ["0", "soon"],
    "PG_STATEMENT_TIMEOUT_MS": ["-5", "1.5"],
    "STREAM_INTERVAL_SECONDS": ["-2", "0", "fast", "1e9"],
    "MAX_JITTER_MS": ["-1", "lots", "99999999"],
    "EVENTS_PER_TICK": ["0", "-3", "1000001", "x"],
    "STREAM_OP_WEIGHTS": ["insert=0,update=0,delete=0", "upsert=1", "insert=-1", "insert=x", "insert"],
    "STREAM_INSERT_WEIGHTS": ["consultas=0", "doencas=1", "consultas=nan"],
    "STREAM_UPDATE_WEIGHTS": ["consulta_status=0", "consulta=1"],
    "STREAM_DELETE_WEIGHTS": ["consulta_retencao=0", "pacientes=1"],
    "STREAM_EPISODE_WEIGHTS": ["alta=0", "cirurgia=1"],
    "STREAM_EPISODE_FAILURE_SHARE": ["1.5", "-0.1", "rare"],
    "STREAM_RETENTION_DAYS": ["-1", "forever"],
    "STREAM_EXTRA_WEIGHTS": ["guia=1", "sinal_vital=-1", "mensagem_avulsa=x"],
    "SCHEMA_EXTRAS": ["faturas", "faturamento,cirurgias"],
    "STREAM_MESSAGE_PREFIX": ["", "  "],
    "STREAM_DDL_EVERY_SECONDS": ["-1", "often", "100000", "5"],  # 5: without SCHEMA_EXTRAS=faturamento
    "STREAM_TOAST_SHARE": ["1.5", "-0.1", "half"],
    "STREAM_RATE": ["-1", "fast", "2000000"],
    "STREAM_ARRIVALS": ["gaussian"],
    "STREAM_BURST_MULTIPLIER": ["-2", "x"],
    "STREAM_BURST_SECONDS": ["-1"],
    "STREAM_BURST_EVERY_SECONDS": ["-1"],
    "STREAM_PROFILE": ["weekend"],
    "STREAM_WRITERS": ["0", "65", "many"],
    "SUMMARY_EVERY_TICKS": ["0", "x"],
    "BATCH_SIZE": ["0", "x", "2000000"],
    "SEED_PACIENTES": ["-1", "lots", "1000000000"],
    "SEED_MEDICOS": ["-1", "x"],
    "SEED_CONVENIOS": ["-1", "x"],
    "SEED_PACIENTES_CONVENIOS": ["-1", "x", "99999999"],
    "SEED_CONSULTAS": ["-1", "x"],
    "SEED_EXAMES": ["-1", "x"],
    "SEED_INTERNACOES": ["-1", "x"],
    "SEED_SCALE": ["0", "-1", "x", "5000"],
    "RANDOM_SEED": ["abc", "1.5"],
    "CDC_PUBLICATION": ["p" * 64],
    "CDC_REPLICA_IDENTITY": ["nothing", "FULLER"],
    "CDC_HEARTBEAT_TABLE": ["t" * 64],
    "LEDGER_TABLE": ["t" * 64],
    "CDC_CONNECTOR_ROLE": ["r" * 64, ""],
    "CDC_PUBLISH_VIA_PARTITION_ROOT": ["on", "yes", "1"],
    "LEDGER_FILE": ["/etc/hostname/ledger.jsonl", "/"],
    "HTTP_PORT": ["-1", "65536", "http"],
    "LOG_LEVEL": ["LOUD", "7"],
    "LOG_FORMAT": ["xml"],
    "LOG_ROTATION_MB": ["0", "x"],
    "LOG_RETENTION_FILES": ["-1", "x"],
    "SHUTDOWN_TIMEOUT_SECONDS": ["0", "-1", "x"],
    "RETRY_MAX_SECONDS": ["0", "x"],
    "PG_SSLMODE": ["strict", "VERIFY-FULL", ""],
    "PG_SSLROOTCERT": ["/nonexistent/root.crt", "/"],
    "PG_SSLCERT": ["/nonexistent/client.crt", "/"],
    "PG_SSLKEY": ["/nonexistent/client.key", "/"],
    "PG_PASSWORD_FILE": ["/nonexistent/password", "/"],
}
# Free-form by nature: any string is a valid value.
FREE_FORM = {"PG_USER", "PG_PASSWORD", "PG_DATABASE", "PG_APPLICATION_NAME", "LOG_DIR", "HTTP_HOST"}


def test_every_variable_is_covered():
    assert set(BAD) | FREE_FORM == {var.name for var in VARIABLES}


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, values in BAD.items() for v in values])
def test_bad_value_names_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert name in info.value.problems, info.value.problems
    message = info.value.problems[name]
    assert "must" in message  # says what is allowed


def test_all_problems_at_once(monkeypatch):
    chosen = {name: values[0] for name, values in BAD.items() if name not in ("SEED_PACIENTES", "SEED_SCALE")}
    for name, value in chosen.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert set(chosen) <= set(info.value.problems)


def test_burst_longer_than_its_period_is_rejected(monkeypatch):
    monkeypatch.setenv("STREAM_BURST_MULTIPLIER", "3")
    monkeypatch.setenv("STREAM_BURST_SECONDS", "90")
    monkeypatch.setenv("STREAM_BURST_EVERY_SECONDS", "60")
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert "STREAM_BURST_SECONDS" in info.value.problems


def test_jitter_larger_than_the_interval_is_allowed(monkeypatch):
    monkeypatch.setenv("STREAM_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("MAX_JITTER_MS", "5000")
    assert load_config(dotenv=None).stream.max_jitter_ms == 5000  # ticks never overlap; see README
