from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from daemon import catalogue, configdocs
from daemon.catalogue import GROUPS, VARIABLES, default_volumes, variable
from daemon.config import load_config
from daemon.errors import ConfigError
from daemon.pg.tables import TABLES


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
    assert set(config.stream.op_weights) == {"insert", "update", "delete", "episode"}
    assert all(config.stream.op_weights[op] > 0 for op in ("update", "delete", "episode"))
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
    assert stream.op_weights == {"insert": 1, "update": 0, "delete": 0, "episode": 0}


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


# --------------------------------------------------------------------------- the catalogue
def test_log_level_is_accepted_in_lower_case(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load_config(dotenv=None).log.level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PG_PORT", "abc", "must be an integer (got 'abc')"),
        ("PG_PORT", "0", "must be a port number between 1 and 65535 (got '0')"),
        ("PG_CONNECT_TIMEOUT", "0", "must be >= 1 (got '0')"),
        ("STREAM_INTERVAL_SECONDS", "0", "must be a number of seconds between 0.001 and 86400 (got '0')"),
        ("STREAM_RATE", "-1", "must be events/s between 0 (off: interval mode) and 1000000 (got '-1')"),
        ("SEED_SCALE", "0", "must be > 0 and <= 1000 (got '0')"),
        ("STREAM_ARRIVALS", "gaussian", "must be uniform or poisson (got 'gaussian')"),
        ("LOG_LEVEL", "Info", "must be one of TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR, CRITICAL (got 'Info')"),
        ("CDC_PUBLICATION", "", "must be 1-63 characters (a PostgreSQL identifier) (got '')"),
        ("PG_HOST", " ", "must not be empty"),
        ("LEDGER_FILE", "/", "must be a file path, not a directory (got '/')"),
    ],
)
def test_messages_derived_from_the_catalogue(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_config(dotenv=None)
    assert info.value.problems == {name: message}


_TYPES = {"str": (str,), "int": (int,), "float": (float,), "path": (Path,), "map": (Mapping,)}


def test_every_default_has_its_declared_type():
    for var in VARIABLES:
        if var.default is None:
            continue
        assert isinstance(var.default, _TYPES[var.type]) and not isinstance(var.default, bool), var.name
        if isinstance(var.default, Mapping):
            assert all(isinstance(w, int | float) and w >= 0 for w in var.default.values()), var.name


def test_catalogue_is_one_row_per_variable_grouped_by_topic():
    names = [var.name for var in VARIABLES]
    assert len(names) == len(set(names))
    groups = [var.group for var in VARIABLES]
    assert set(groups) == set(GROUPS)
    assert sorted(groups, key=GROUPS.index) == groups, "rows of a topic stay together, topics in GROUPS order"
    assert list(default_volumes()) == list(TABLES)
    assert all(var.meaning and var.allowed for var in VARIABLES)


def test_rendered_defaults_parse_back_to_the_typed_defaults(monkeypatch):
    """Every default as written in the env example passes its own rules and means the same value."""
    unset = load_config(dotenv=None)
    for var in VARIABLES:
        if var.has_fixed_default:
            monkeypatch.setenv(var.name, var.default_text)
    assert load_config(dotenv=None) == unset


@pytest.mark.parametrize(
    ("default", "text"),
    [(2.0, "2"), (0.25, "0.25"), (0.001, "0.001"), (30_000, "30000"), (100_000_000, "100000000"), ("", "(empty)")],
)
def test_default_text(default, text):
    assert replace(variable("STREAM_RATE"), default=default).default_text == text


def test_unset_defaults_read_well():
    texts = {var.name: var.default_text for var in VARIABLES if not var.has_fixed_default}
    assert texts["PG_PASSWORD"] == "(empty)" and texts["RANDOM_SEED"] == "(random)"
    assert texts["CDC_REPLICA_IDENTITY"] == "(unchanged)" and texts["LOG_DIR"] == "(none)"


def test_a_default_changed_in_the_catalogue_changes_config_readme_and_both_examples(monkeypatch):
    """The acceptance test of "one declaration per variable": edit one row, everything follows."""
    changed = {
        "MAX_JITTER_MS": 1234,
        "STREAM_INTERVAL_SECONDS": 0.5,
        "STREAM_DELETE_WEIGHTS": {"convenio_cancelamento": 1, "consulta_retencao": 3},
        "RANDOM_SEED": 99,
        "PG_DATABASE": "hospital_x",
    }
    rows = tuple(replace(v, default=changed[v.name]) if v.name in changed else v for v in catalogue.VARIABLES)
    monkeypatch.setattr(catalogue, "VARIABLES", rows)
    texts = {
        "MAX_JITTER_MS": "1234",
        "STREAM_INTERVAL_SECONDS": "0.5",
        "STREAM_DELETE_WEIGHTS": "convenio_cancelamento=1,consulta_retencao=3",
        "RANDOM_SEED": "99",
        "PG_DATABASE": "hospital_x",
    }

    config = load_config(dotenv=None)
    assert config.stream.max_jitter_ms == 1234 and config.stream.interval_seconds == 0.5
    assert config.stream.delete_weights == {"convenio_cancelamento": 1, "consulta_retencao": 3}
    assert config.seed.random_seed == 99 and config.pg.database == "hospital_x"

    table = configdocs.render_readme_table()
    env_example = configdocs.render_env_example().splitlines()
    configmap = yaml.safe_load(configdocs.render_configmap())["data"]
    for name, text in texts.items():
        assert f"| `{name}` | {variable(name).type} | `{text}` |" in table
        assert f"{name}={text}" in env_example  # now active: RANDOM_SEED has a fixed default
        if name not in configdocs.K8S_VALUES:
            assert configmap[name] == text
    assert configmap["PG_DATABASE"] == configdocs.K8S_VALUES["PG_DATABASE"]  # the deployment's own value stays
    assert "default hospital_x" in configdocs.render_configmap()  # ...with the new default beside it
    # The weights' keys come from the default too: the old ones are now unknown.
    monkeypatch.setenv("STREAM_DELETE_WEIGHTS", "consulta_retencao=1")
    assert load_config(dotenv=None).stream.delete_weights == {"convenio_cancelamento": 0, "consulta_retencao": 1}
