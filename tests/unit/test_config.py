from __future__ import annotations

import pytest

from daemon.config import load_config
from daemon.errors import ConfigError


def test_defaults_match_the_predecessor():
    config = load_config(dotenv=None)
    assert config.pg.host == "localhost" and config.pg.port == 5432
    assert config.stream.interval_seconds == 2.0
    assert config.stream.max_jitter_ms == 400
    assert config.stream.events_per_tick == 1
    assert dict(config.stream.insert_weights) == {
        "consultas": 55,
        "exames": 25,
        "internacoes": 15,
        "pacientes": 10,
        "pacientes_convenios": 5,
    }
    assert set(config.stream.op_weights) == {"insert", "update", "delete"}
    assert config.stream.op_weights["update"] > 0 and config.stream.op_weights["delete"] > 0
    assert config.seed.scaled() == {
        "pacientes": 2000,
        "medicos": 200,
        "convenios": 12,
        "pacientes_convenios": 2500,
        "consultas": 4000,
        "exames": 3500,
        "internacoes": 1200,
    }
    assert sum(config.seed.scaled().values()) == 13412
    assert config.log.level == "INFO" and config.log.directory is None


def test_every_bad_variable_is_reported_at_once(monkeypatch):
    bad = {
        "PG_PORT": "abc",
        "STREAM_INTERVAL_SECONDS": "-1",
        "MAX_JITTER_MS": "lots",
        "SEED_PACIENTES": "many",
        "SEED_EXAMES": "-5",
        "LOG_LEVEL": "LOUD",
        "EVENTS_PER_TICK": "0",
        "STREAM_INSERT_WEIGHTS": "consultas=0,exames=0",
        "LOG_FORMAT": "xml",
    }
    for key, value in bad.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert set(info.value.problems) == set(bad)
    text = str(info.value)
    for key in bad:
        assert key in text
    assert "'abc'" in text  # the offending value is quoted
    assert "TRACE, DEBUG, INFO" in text  # and what is allowed


def test_password_never_appears_in_errors(monkeypatch):
    monkeypatch.setenv("PG_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("PG_PORT", "hunter2-secret")
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert "PG_PORT" in str(info.value)
    config_repr = repr(info.value.problems)
    assert "PG_PASSWORD" not in config_repr
    monkeypatch.setenv("PG_PORT", "5432")
    assert "hunter2-secret" not in repr(load_config(dotenv=None))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("consultas=1,doencas=2", "keys among"),
        ("consultas", "key=weight"),
        ("consultas=x", "must be a number"),
        ("consultas=-1", ">= 0"),
        ("consultas=0", "must not all be zero"),
    ],
)
def test_insert_weights_validation(monkeypatch, value, message):
    monkeypatch.setenv("STREAM_INSERT_WEIGHTS", value)
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert message in info.value.problems["STREAM_INSERT_WEIGHTS"]


def test_partial_weights_leave_other_kinds_at_zero(monkeypatch):
    monkeypatch.setenv("STREAM_INSERT_WEIGHTS", "pacientes=1")
    weights = load_config(dotenv=None).stream.insert_weights
    assert weights == {"consultas": 0, "exames": 0, "internacoes": 0, "pacientes": 1, "pacientes_convenios": 0}


def test_insert_only_reproduces_the_predecessor_mix(monkeypatch):
    monkeypatch.setenv("STREAM_OP_WEIGHTS", "insert=1")
    stream = load_config(dotenv=None).stream
    assert {k: w for k, w in stream.insert_weights.items() if w} == {
        "consultas": 55,
        "exames": 25,
        "internacoes": 15,
        "pacientes": 10,
    }
    assert stream.op_weights == {"insert": 1, "update": 0, "delete": 0}


@pytest.mark.parametrize("name", ["STREAM_OP_WEIGHTS", "STREAM_UPDATE_WEIGHTS", "STREAM_DELETE_WEIGHTS"])
def test_unknown_keys_in_every_mix_are_rejected(monkeypatch, name):
    monkeypatch.setenv(name, "upsert=3")
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert "keys among" in info.value.problems[name]


def test_cdc_settings(monkeypatch):
    monkeypatch.setenv("CDC_PUBLICATION", "hospital_pub")
    monkeypatch.setenv("CDC_REPLICA_IDENTITY", "full")
    cdc = load_config(dotenv=None).cdc
    assert cdc.publication == "hospital_pub" and cdc.replica_identity == "full"
    monkeypatch.setenv("CDC_REPLICA_IDENTITY", "everything")
    monkeypatch.setenv("CDC_PUBLICATION", "p" * 64)
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert {"CDC_REPLICA_IDENTITY", "CDC_PUBLICATION"} <= set(info.value.problems)


def test_seed_volumes_must_be_consistent(monkeypatch):
    monkeypatch.setenv("SEED_PACIENTES", "0")
    monkeypatch.setenv("SEED_MEDICOS", "0")
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert {"SEED_CONSULTAS", "SEED_EXAMES", "SEED_INTERNACOES", "SEED_PACIENTES_CONVENIOS"} <= set(info.value.problems)


def test_scale_multiplies_volumes(monkeypatch):
    monkeypatch.setenv("SEED_SCALE", "0.5")
    volumes = load_config(dotenv=None).seed.scaled()
    assert volumes["pacientes"] == 1000 and volumes["consultas"] == 2000


def test_dotenv_is_read_but_real_environment_wins(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("PG_HOST=from-dotenv\nPG_PORT=6000\n", encoding="utf-8")
    monkeypatch.setenv("PG_PORT", "7000")
    config = load_config(dotenv=tmp_path / ".env")
    assert config.pg.host == "from-dotenv"
    assert config.pg.port == 7000
