"""The project as a package: built (sdist, then the wheel from the sdist), installed, run from anywhere.

The install is real but quick: ``python -m build`` makes the sdist and the wheel from it (PyPI
gives it hatchling), the wheel goes with ``--no-deps`` into a fresh venv, and that venv sees the
runtime dependencies through a ``.pth`` naming this interpreter's site-packages (which holds no
copy of the project). Every command then runs from ``/``, with no PYTHONPATH: only the installed
package can answer. The dependency lists themselves are checked against the code's imports.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from daemon import __version__
from daemon.cli import program_name
from daemon.dev import source_checkout, user_data_dir
from daemon.pg import sqlfiles
from daemon.pg.cluster import LocalCluster
from daemon.pg.schema import TABLES
from tests.support import REPO
from tests.support.db import query
from tests.support.env import clean

SQL_FILES = sorted(p.name for p in (REPO / "sql").glob("*.sql"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
DIST = "hospital_oltp_simulator"


def requirement_lines() -> list[str]:
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# --------------------------------------------------------------------------- dependency lists
def test_pyproject_dependencies_are_requirements_txt() -> None:
    assert PYPROJECT["project"]["dependencies"] == requirement_lines()


def imported_distributions() -> set[str]:
    """Distributions (canonical names) of every third-party module that daemon/ imports."""
    modules: set[str] = set()
    for path in (REPO / "daemon").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"daemon", "__future__"}
    owners = metadata.packages_distributions()
    missing = sorted(m for m in third_party if m not in owners)
    assert not missing, f"imported but not installed here: {missing}"
    return {canonicalize_name(dist) for m in third_party for dist in owners[m]}


def test_requirements_are_exactly_what_the_code_imports() -> None:
    required = {canonicalize_name(Requirement(line).name) for line in requirement_lines()}
    imported = imported_distributions()
    assert imported - required == set(), "imported by daemon/ but missing from requirements.txt"
    assert required - imported == set(), "in requirements.txt but never imported by daemon/"


def test_installed_versions_satisfy_the_requirements() -> None:
    for line in requirement_lines():
        requirement = Requirement(line)
        assert requirement.specifier.contains(metadata.version(requirement.name), prereleases=True), line


# --------------------------------------------------------------------------- where things are found
def test_program_name_follows_the_invocation() -> None:
    assert program_name("/opt/venv/bin/hospital-sim") == "hospital-sim"
    assert program_name(str(REPO / "daemon" / "__main__.py")) == "python -m daemon"
    assert program_name("/usr/bin/pytest") == "python -m daemon"


def test_sql_comes_from_the_checkout_here() -> None:
    assert not (REPO / "daemon" / "sql").exists(), "sql/ stays at the top of the repository"
    assert Path(str(sqlfiles.sql_dir())) == REPO / "sql"


def test_source_checkout_is_told_apart_from_an_install(tmp_path: Path) -> None:
    assert source_checkout() == REPO
    site_packages = tmp_path / "lib" / "python3.11" / "site-packages"
    (site_packages / "daemon").mkdir(parents=True)
    assert source_checkout(site_packages / "daemon") is None


def test_user_data_dir_honours_an_absolute_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert user_data_dir() == tmp_path / "hospital-sim"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # the XDG spec: ignore relative paths
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_data_dir() == tmp_path / ".local" / "share" / "hospital-sim"


# --------------------------------------------------------------------------- build + install
@dataclass
class Installed:
    sdist: Path
    wheel: Path
    venv: Path
    seconds: float

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "hospital-sim"


def make_venv(path: Path) -> Path:
    """A fresh venv that sees this interpreter's site-packages (the runtime dependencies) after its own."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
    own = next(path.glob("lib/python*/site-packages"))
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (own / "zz_shared_dependencies.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in shared), encoding="utf-8"
    )
    return path


def pip(venv: Path, *args: str) -> None:
    """This interpreter's pip, installing into ``venv``."""
    cmd = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    started = time.monotonic()
    work = tmp_path_factory.mktemp("install")
    tools = make_venv(work / "tools")
    pip(tools, "install", "--quiet", "build>=1")
    dist = work / "dist"
    # sdist first, then the wheel built from the unpacked sdist: both must carry sql/.
    result = subprocess.run(
        [str(tools / "bin" / "python"), "-m", "build", "--outdir", str(dist), str(REPO)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=work,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    venv = make_venv(work / "venv")
    pip(venv, "install", "--quiet", "--no-deps", str(wheel))
    return Installed(sdist, wheel, venv, time.monotonic() - started)


def process_env(**extra: str) -> dict[str, str]:
    """The caller's environment without the project's variables, PYTHONPATH or a virtualenv's marks."""
    dropped = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    env = {k: v for k, v in clean(os.environ).items() if k not in dropped}
    return {**env, "COLUMNS": "100", "HTTP_PORT": "0", **extra}


def run(cmd: list[str | Path], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_sdist_and_wheel_carry_code_sql_and_script(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        sdist_names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {f"sql/{name}" for name in SQL_FILES} <= sdist_names
    assert {"pyproject.toml", "requirements.txt", "README.md", "daemon/cli.py"} <= sdist_names
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        info = f"{DIST}-{__version__}.dist-info"
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
        meta = whl.read(f"{info}/METADATA").decode()
    assert {f"daemon/sql/{name}" for name in SQL_FILES} <= names
    sources = {p.relative_to(REPO).as_posix() for p in (REPO / "daemon").rglob("*.py")}
    assert sources <= names
    assert {n.split("/")[0] for n in names} == {"daemon", info}, "the wheel holds the package and nothing else"
    assert re.search(r"^hospital-sim = daemon\.cli:main$", entry_points, re.M), entry_points
    requires = {str(Requirement(line)) for line in re.findall(r"^Requires-Dist: (.+)$", meta, re.M)}
    assert requires == {str(Requirement(line)) for line in requirement_lines()}  # the backend sorts them
    assert re.search(rf"^Version: {re.escape(__version__)}$", meta, re.M)


def test_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    probe = (
        "import daemon, importlib.metadata as m, daemon.pg.sqlfiles as s, daemon.dev as d;"
        "print(daemon.__file__); print(s.sql_dir()); print(d.CHECKOUT); print(m.version('hospital-oltp-simulator'))"
    )
    result = run([installed.python, "-c", probe], process_env())
    assert result.returncode == 0, result.stderr
    package, sql_dir, checkout, version = result.stdout.splitlines()
    site_packages = str(next(installed.venv.glob("lib/python*/site-packages")))
    assert package.startswith(site_packages + "/daemon/"), package
    assert sql_dir == f"{site_packages}/daemon/sql"
    assert checkout == "None", "an installed package is not a checkout"
    assert version == __version__


def test_script_help_and_exit_codes_match_python_m_daemon(installed: Installed) -> None:
    env = process_env()
    script_help = run([installed.script, "--help"], env)
    module_help = subprocess.run(
        [sys.executable, "-m", "daemon", "--help"],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script_help.returncode == module_help.returncode == 0, script_help.stderr + module_help.stderr
    assert script_help.stdout.startswith("usage: hospital-sim ")
    assert module_help.stdout.startswith("usage: python -m daemon ")
    assert script_help.stdout.replace("hospital-sim", "python -m daemon") == module_help.stdout
    commands = re.findall(r"^    (\w+) ", script_help.stdout, re.M)
    assert {"run", "init", "seed", "stream", "counts", "check", "doctor", "verify", "dev"} <= set(commands)
    version = run([installed.script, "--version"], env)
    assert (version.returncode, version.stdout.strip()) == (0, f"hospital-sim {__version__}")
    bad = run([installed.script, "check"], process_env(PG_PORT="not-a-port"))
    assert bad.returncode == 2 and "PG_PORT" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    usage = run([installed.script, "no-such-command"], env)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: hospital-sim "), usage.stderr


def test_script_initialises_counts_and_streams_from_anywhere(
    installed: Installed, pg_env: dict[str, str], db, cluster: LocalCluster
) -> None:
    env = process_env(**pg_env)
    init = run([installed.script, "init"], env, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    tables = {t for (t,) in query(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert set(TABLES) <= tables
    assert query(db, "SELECT count(*) FROM convenios")[0][0] > 0, "lookup rows from sql/03_seed_lookups.sql"
    counts = run([installed.script, "counts"], env)
    assert counts.returncode == 0, counts.stdout + counts.stderr
    assert all(table in counts.stdout + counts.stderr for table in TABLES)
    unreachable = run([installed.script, "check"], process_env(**{**pg_env, "PG_PORT": str(cluster.port + 1)}))
    assert unreachable.returncode == 1, unreachable.stdout + unreachable.stderr
    # The long-running mode: stream, then SIGTERM -> graceful stop, exit 0 (as `python -m daemon stream`).
    fast = {"STREAM_INTERVAL_SECONDS": "0.05", "MAX_JITTER_MS": "0", "SUMMARY_EVERY_TICKS": "5"}
    proc = subprocess.Popen(
        [str(installed.script), "stream"],
        cwd="/",
        env={**env, **fast},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Stream ciclo" in line or time.monotonic() > deadline:
                break
        assert any("Stream ciclo" in line for line in seen), "".join(seen)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(seen) + rest
    assert proc.returncode == 0, output
    assert "shutdown complete" in output and "Traceback" not in output


@pytest.fixture
def data_home() -> Iterator[Path]:
    """A per-user data directory the unprivileged server user can traverse (not the 0700 tmp_path)."""
    root = Path(tempfile.mkdtemp(prefix="hsim-xdg-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_installed_dev_keeps_its_cluster_in_the_user_data_dir(installed: Installed, data_home: Path) -> None:
    env = process_env(XDG_DATA_HOME=str(data_home / "share"), TMPDIR=str(data_home))
    localdb = data_home / "share" / "hospital-sim" / "localdb"
    try:
        check = run([installed.script, "dev", "check"], env, timeout=180)
        output = check.stdout + check.stderr
        assert check.returncode == 0, output
        assert f"running from {localdb}" in output, output
        assert "hospital-sim dev --stop" in output, "the banner names the installed command"
        assert (localdb / "data" / "PG_VERSION").exists()
    finally:
        stop = run([installed.script, "dev", "--stop"], env, timeout=120)
    assert stop.returncode == 0 and f"local PostgreSQL in {localdb} stopped" in stop.stdout, stop.stdout + stop.stderr
    assert not (localdb / "data" / "postmaster.pid").exists()
