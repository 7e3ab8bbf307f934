"""The image and the Kubernetes manifest, built and run for real with podman (no Docker engine here).

Needs root, podman and the local base image: ``.ci/container-tools.sh`` installs Debian's podman and
builds ``localhost/hospital-sim-base:bookworm`` with debootstrap (no registry is reachable).
Skipped only when podman is not installed. ``podman build`` passes the host's *_PROXY variables to
the build by default, so pip inside it reaches PyPI the way the host does.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.catalogue import VARIABLES
from daemon.pg.cluster import free_port
from tests.support import REPO
from tests.support.db import admin_connect, query
from tests.support.proc import GRACEFUL_STOP_SECONDS

BASE_IMAGE = os.environ.get("HSIM_BASE_IMAGE", "localhost/hospital-sim-base:bookworm")
IMAGE = os.environ.get("HSIM_TEST_IMAGE", "localhost/hospital-sim:test")  # another tag: parallel checkouts
SECRET_ROLE = "hsim_container_pw"  # authenticates with scram-sha-256: the password must reach the container
SECRET_PASSWORD = "Container-Secret-4kq9"
CONTAINER_UID = 10001  # the Dockerfile's USER
HAS_HTTP = "HTTP_PORT" in {var.name for var in VARIABLES}
FAST_STREAM = {
    "STREAM_INTERVAL_SECONDS": "0.1",
    "MAX_JITTER_MS": "0",
    "SUMMARY_EVERY_TICKS": "5",
    "SEED_SCALE": "0.05",
}
STREAMING = "Stream ciclo"  # the summary line: the stream is committing events
_names = itertools.count()

needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None, reason="podman is not installed (CI installs it: .ci/container-tools.sh)"
)


def podman(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def logs(container: str) -> str:
    result = podman("logs", container, check=False)
    return result.stdout + result.stderr


def wait_for_log(container: str, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in logs(container):
            return
        state = podman("inspect", "--format", "{{.State.Status}}", container, check=False).stdout.strip()
        if state in {"exited", "stopped"}:
            break
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} in the logs of {container} within {timeout}s:\n{logs(container)}")


def http_status(port: int, path: str, timeout: float = 30) -> int:
    """The status of GET path, retried until the server answers (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            if time.monotonic() > deadline:
                return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def wait_until_healthy(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while http_status(port, "/healthz", timeout) != 200 or http_status(port, "/readyz", timeout) != 200:
        assert time.monotonic() < deadline, "/healthz or /readyz never answered 200"
        time.sleep(0.3)


def exit_code(container: str) -> int:
    return int(podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip())


@pytest.fixture(scope="module")
def image() -> str:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        message = f"base image {BASE_IMAGE} missing: run .ci/container-tools.sh (as root) first"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: its absence there is a defect
        pytest.skip(message)
    # --format docker keeps HEALTHCHECK (OCI images drop it); --network host: RUN steps need PyPI.
    podman(
        "build",
        "--format",
        "docker",
        "--network",
        "host",
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
        "-t",
        IMAGE,
        str(REPO),
        timeout=900,
    )
    return IMAGE


@pytest.fixture
def password_env(cluster, pg_env: dict[str, str], database: str, db, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The test database owned by a role that must send its password (scram); PG_PASSWORD left out."""
    hba = cluster.data / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {SECRET_ROLE} 127.0.0.1/32 scram-sha-256\n" + original)
    with db.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {SECRET_ROLE}")
        cur.execute(f"CREATE ROLE {SECRET_ROLE} LOGIN PASSWORD %s", (SECRET_PASSWORD,))
        cur.execute(f'ALTER DATABASE "{database}" OWNER TO {SECRET_ROLE}')
        cur.execute("SELECT pg_reload_conf()")
    yield {k: v for k, v in pg_env.items() if k != "PG_PASSWORD"} | {"PG_USER": SECRET_ROLE}
    hba.write_text(original)
    admin = admin_connect(cluster)
    with admin.cursor() as cur:
        cur.execute("SELECT pg_reload_conf()")
        cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cur.execute(f"DROP ROLE IF EXISTS {SECRET_ROLE}")
    admin.close()


def secret_file(value: str, directory: Path) -> Path:
    """``value`` in a file as compose hands a secret to a container (a read-only bind mount of the
    file, owned by the container's user, mode 0400), with the newline an editor or `echo` adds."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    path = directory / "pg_password"
    path.write_text(value + "\n", encoding="utf-8")
    os.chown(path, CONTAINER_UID, CONTAINER_UID)
    path.chmod(0o400)
    return path


@needs_podman
def test_image_runs_read_only_as_non_root_and_stops_cleanly(
    image: str, password_env: dict[str, str], db, tmp_path: Path
) -> None:
    """The password arrives as a mounted secret file (PG_PASSWORD_FILE), as compose does it; never as a variable."""
    name = unique("hsim-test")
    port = free_port()
    env = {**password_env, **FAST_STREAM, "HTTP_PORT": str(port), "PG_PASSWORD_FILE": "/run/secrets/pg_password"}
    run = ["run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL", "--user", "10001"]
    run += ["--security-opt", "no-new-privileges", "--health-interval", "disable"]  # no systemd timers here
    run += ["--volume", f"{secret_file(SECRET_PASSWORD, tmp_path / 'secrets')}:/run/secrets/pg_password:ro"]
    try:
        _run_and_stop(image, name, port, env, run, db)
    finally:
        podman("rm", "--force", "--ignore", name, check=False)


def _run_and_stop(image: str, name: str, port: int, env: dict[str, str], run: list[str], db) -> None:
    """Start the container, see it stream and answer its probes, stop it with SIGTERM: exit 0."""
    podman(*run, *(f"--env={k}={v}" for k, v in env.items()), image)
    inspect = json.loads(podman("inspect", name).stdout)[0]
    assert not any(e.startswith("PG_PASSWORD=") for e in inspect["Config"]["Env"]), "no password variable"
    wait_for_log(name, "Iniciando stream")
    wait_for_log(name, STREAMING)
    if HAS_HTTP:
        wait_until_healthy(port)
        podman("healthcheck", "run", name)  # the Dockerfile's HEALTHCHECK command works in the image
    assert query(db, "SELECT count(*) FROM consultas")[0][0] > 0
    started = time.monotonic()
    podman("stop", "--time", "30", name, timeout=60)
    stopped = time.monotonic() - started  # podman sends SIGKILL after 30 s
    assert stopped < GRACEFUL_STOP_SECONDS + 10 < 30, "SIGTERM should stop the daemon, not SIGKILL"
    output = logs(name)
    assert exit_code(name) == 0, output
    assert "shutdown complete" in output, output
    assert "Traceback" not in output, output
    assert SECRET_PASSWORD not in output


@needs_podman
def test_image_subcommands_and_exit_codes(image: str, pg_env: dict[str, str]) -> None:
    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        flags = [f"--env={k}={v}" for k, v in env.items()]
        return podman("run", "--rm", "--network", "host", "--read-only", *flags, image, *args, check=False)

    assert run("check", **pg_env).returncode == 0
    assert run("check", **{**pg_env, "PG_PORT": str(free_port()), "PG_CONNECT_TIMEOUT": "1"}).returncode == 1
    bad = run("check", PG_PORT="not-a-port")
    assert bad.returncode == 2 and "PG_PORT" in bad.stderr + bad.stdout
    unmounted = run("check", **pg_env, PG_PASSWORD_FILE="/run/secrets/pg_password")  # the secret was not mounted
    assert unmounted.returncode == 2 and "PG_PASSWORD_FILE" in unmounted.stderr, unmounted.stderr
    assert run("--version").returncode == 0


def kube_manifests(
    pg_env: dict[str, str], port: int, suffix: str, password: str, volumes_dir: Path
) -> tuple[list[dict], dict[str, str], str]:
    """k8s/configmap.yaml + deployment.yaml, adapted to this machine; the Secret's data; the Deployment name.

    Adaptations: the test image and database, host networking (no CNI here, so no port mappings and
    numeric probe ports), unique names, and projected Secret volumes: podman 4.3 plays hostPath,
    configMap, emptyDir and PVC volumes only, so each projected volume becomes a host directory
    holding the files the kubelet would project (key -> path, with the mode asked for, owned by the
    container's uid as the kubelet's fsGroup handling would allow). Everything else - securityContext,
    envFrom, secretKeyRef, downward API, emptyDirs, probes - is played as written.
    """
    k8s = REPO / "k8s"
    configmap = yaml.safe_load((k8s / "configmap.yaml").read_text(encoding="utf-8"))
    deployment = yaml.safe_load((k8s / "deployment.yaml").read_text(encoding="utf-8"))
    secret = yaml.safe_load((k8s / "secret.example.yaml").read_text(encoding="utf-8"))
    configmap["metadata"]["name"] += f"-{suffix}"
    configmap["data"].update({k: v for k, v in pg_env.items() if k != "PG_PASSWORD"})
    configmap["data"].update(FAST_STREAM)
    if HAS_HTTP:
        configmap["data"]["HTTP_PORT"] = str(port)
    deployment["metadata"]["name"] += f"-{suffix}"
    pod = deployment["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    container = pod["containers"][0]
    container["image"] = IMAGE
    container.pop("ports", None)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if probe in container:
            container[probe]["httpGet"]["port"] = port
    container["envFrom"][0]["configMapRef"]["name"] = configmap["metadata"]["name"]
    secret_name = f"{secret['metadata']['name']}-{suffix}"
    for var in container["env"]:
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            ref["name"] = secret_name
    data = {**secret["stringData"], "PG_PASSWORD": password}
    for volume in pod["volumes"]:
        if "projected" in volume:
            volume.update(hostPath={"path": str(project(volume.pop("projected"), data, volumes_dir / volume["name"]))})
    return [configmap, deployment], {"name": secret_name, **data}, deployment["metadata"]["name"]


def project(projected: dict, data: dict[str, str], directory: Path) -> Path:
    """What the kubelet writes for a projected volume of Secret items (this Secret's ``data``)."""
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    for source in projected["sources"]:
        for item in source["secret"]["items"]:
            path = directory / item["path"]
            path.write_text(data[item["key"]], encoding="utf-8")
            os.chown(path, CONTAINER_UID, CONTAINER_UID)
            path.chmod(item.get("mode", projected.get("defaultMode", 0o644)))
    return directory


@needs_podman
def test_k8s_deployment_plays_with_podman_kube(image: str, password_env: dict[str, str], db, tmp_path: Path) -> None:
    port = free_port()
    suffix = unique("t")
    docs, secret, deployment = kube_manifests(password_env, port, suffix, SECRET_PASSWORD, tmp_path / "volumes")
    secret_name = secret.pop("name")
    manifest = tmp_path / "play.yaml"
    manifest.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    # podman 4.3 reads secretKeyRef from a podman secret holding {"KEY": base64(value)}.
    secret_file = tmp_path / "secret.json"
    secret_file.write_text(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in secret.items()}))
    podman("secret", "create", secret_name, str(secret_file))
    container = pod = ""
    try:
        played = podman("kube", "play", str(manifest), timeout=120)
        ids = played.stdout.split()
        pod = ids[ids.index("Pod:") + 1]
        container = ids[ids.index("Container:") + 1]
        wait_for_log(container, STREAMING)
        if HAS_HTTP:
            wait_until_healthy(port)
        inspect = json.loads(podman("inspect", container).stdout)[0]
        assert inspect["HostConfig"]["ReadonlyRootfs"] is True
        assert inspect["Config"]["User"].split(":")[0] == "10001"
        assert not inspect.get("EffectiveCaps"), "capabilities: drop ALL"
        pod_name = podman("pod", "inspect", "--format", "{{.Name}}", pod).stdout.strip()
        sessions = "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        names = query(db, sessions + " AND pid <> pg_backend_pid()")
        assert any(n.startswith(pod_name) for (n,) in names), f"PG_APPLICATION_NAME is not the pod name: {names}"
        podman("pod", "stop", "--time", "30", pod, timeout=60)
        output = logs(container)
        assert exit_code(container) == 0, output
        assert "shutdown complete" in output, output
        assert not any(e.startswith("PG_PASSWORD=") for e in inspect["Config"]["Env"]), "the password is a file"
        assert SECRET_PASSWORD not in output
    finally:
        podman("kube", "down", str(manifest), check=False, timeout=60)
        if pod:
            podman("pod", "rm", "--force", "--ignore", pod, check=False)
        podman("secret", "rm", secret_name, check=False)
