"""The files derived from the catalogue: README's configuration table, the root ``.env.example``
(``cp .env.example .env`` for `make run`), the Docker env example and the Kubernetes ConfigMap.
``python -m daemon.configdocs --write`` (``make config-docs``) rewrites them; ``--check`` exits 1
when one is stale. A test asserts the committed files equal the output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from daemon import catalogue
from daemon.catalogue import Variable

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
ENV_EXAMPLE = REPO / "docker" / "simulator.env.example"
DOTENV_EXAMPLE = REPO / ".env.example"
CONFIGMAP = REPO / "k8s" / "configmap.yaml"
TABLE_BEGIN = "<!-- configuration table: generated from daemon/catalogue.py by `make config-docs` -->"
TABLE_END = "<!-- end of the configuration table -->"

# k8s/configmap.yaml: values that differ from the daemon's defaults in the example deployment.
K8S_VALUES = {
    "PG_HOST": "postgres",  # the Service in postgres.yaml
    "PG_DATABASE": "hospital",
    "CDC_PUBLICATION": "hospital_pub",  # debezium-connector.yaml uses it as is (autocreate disabled)
    "CDC_HEARTBEAT_TABLE": "debezium_heartbeat",  # its heartbeat.action.query writes there
}
# Set in deployment.yaml, not in the ConfigMap (listed there as comments).
K8S_FROM_DEPLOYMENT = {
    "PG_PASSWORD": "unset: the password comes from a file (PG_PASSWORD_FILE)",
    "PG_PASSWORD_FILE": "the Secret hospital-sim-db mounted as a file (deployment.yaml, projected volume)",
    "PG_APPLICATION_NAME": "the pod name (deployment.yaml, downward API metadata.name)",
}
# Example values shown (commented out) for variables without a fixed default.
EXAMPLES = {
    "RANDOM_SEED": "42",
    "CDC_PUBLICATION": "hospital_pub",
    "CDC_REPLICA_IDENTITY": "full",
    "CDC_HEARTBEAT_TABLE": "debezium_heartbeat",
    "PG_PASSWORD_FILE": "/run/secrets/pg_password",  # compose.yaml's secret
    "PG_SSLROOTCERT": "/run/secrets/pg_ca.crt",
    "PG_SSLCERT": "/run/secrets/pg_client.crt",
    "PG_SSLKEY": "/run/secrets/pg_client.key",
}
K8S_EXAMPLES = {  # writable paths in the pod: the emptyDir mounted at /var/log/hospital-sim
    "LOG_DIR": "/var/log/hospital-sim",
    "LEDGER_FILE": "/var/log/hospital-sim/ledger.jsonl",
    # deployment.yaml mounts the Secret at /etc/hospital-sim/secrets: further keys land there too.
    "PG_SSLROOTCERT": "/etc/hospital-sim/secrets/ca.crt",
    "PG_SSLCERT": "/etc/hospital-sim/secrets/client.crt",
    "PG_SSLKEY": "/etc/hospital-sim/secrets/client.key",
}


def _describe(var: Variable) -> str:
    """The comment above a variable in the example files: meaning [type; allowed values]."""
    allowed = var.allowed
    return f"{var.meaning} [{var.type}]" if allowed == "any" else f"{var.meaning} [{var.type}; {allowed}]"


def _grouped(variables: tuple[Variable, ...]) -> list[tuple[str, list[Variable]]]:
    groups: dict[str, list[Variable]] = {}
    for var in variables:
        groups.setdefault(var.group, []).append(var)
    return list(groups.items())


def render_readme_table() -> str:
    """The configuration table, between its two marker comments."""
    lines = [TABLE_BEGIN, "", "| variable | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for var in catalogue.VARIABLES:
        lines.append(f"| `{var.name}` | {var.type} | `{var.default_text}` | {var.allowed} | {var.meaning} |")
    return "\n".join([*lines, "", TABLE_END])


DOCKER_HEADER = (
    "# Used as an env file: docker run --env-file docker/simulator.env.example ...; compose.yaml",
    "# reads it, then the optional docker/simulator.env for your own values.",
)
DOTENV_HEADER = (
    "# cp .env.example .env, then edit: `make run` / `python -m daemon` read .env from the working",
    "# directory (real environment variables win). Leave PG_HOST commented out for `make run` to",
    "# start its local PostgreSQL; uncomment it (and PG_*) to use your own server.",
)
# .env.example: commented out, so that a copied .env keeps `make run`'s local server (PG_* unset).
DOTENV_COMMENTED = frozenset({"PG_HOST", "PG_PORT", "PG_USER", "PG_PASSWORD", "PG_DATABASE"})


def render_env_example(header: tuple[str, ...] = DOCKER_HEADER, commented: frozenset[str] = frozenset()) -> str:
    lines = [
        "# Hospital OLTP simulator: every environment variable with its default.",
        "# Generated from daemon/catalogue.py: make config-docs (python -m daemon.configdocs --write).",
        *header,
        "# Commented variables have no fixed default: unset means what the comment says.",
    ]
    for group, variables in _grouped(catalogue.VARIABLES):
        lines += ["", f"# ---- {group} ".ljust(40, "-")]
        for var in variables:
            unset = "" if var.has_fixed_default else f"; unset: {var.default_text}"
            lines += ["", f"# {_describe(var)}{unset}"]
            if var.has_fixed_default:
                lines.append(f"{'# ' if var.name in commented else ''}{var.name}={var.default_text}")
            else:
                lines.append(f"# {var.name}={EXAMPLES.get(var.name, K8S_EXAMPLES.get(var.name, ''))}")
    return "\n".join(lines) + "\n"


def render_dotenv_example() -> str:
    """The root .env.example: every variable with its default; PG_* commented (the local server)."""
    return render_env_example(DOTENV_HEADER, DOTENV_COMMENTED)


def render_configmap() -> str:
    lines = [
        "# Non-secret settings of the simulator (deployment.yaml: envFrom): every variable of",
        "# daemon/catalogue.py. Generated: make config-docs (python -m daemon.configdocs --write).",
        "# Commented keys have no fixed default (uncomment to set) or are set in deployment.yaml.",
        "# Pods read it at start: after a change, `kubectl rollout restart deployment/hospital-sim`.",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: hospital-sim-config",
        "  labels:",
        "    app.kubernetes.io/name: hospital-sim",
        "    app.kubernetes.io/component: simulator",
        "data:",
    ]
    for group, variables in _grouped(catalogue.VARIABLES):
        lines.append(f"  # ---- {group} ".ljust(40, "-"))
        for var in variables:
            lines += _configmap_entry(var)
    return "\n".join(lines) + "\n"


def _configmap_entry(var: Variable) -> list[str]:
    if var.name in K8S_FROM_DEPLOYMENT:
        return [f"  # {var.name}: {K8S_FROM_DEPLOYMENT[var.name]}"]
    overridden = var.name in K8S_VALUES
    note = "" if var.has_fixed_default and not overridden else f"; default {var.default_text}"
    lines = [f"  # {_describe(var)}{note}"]
    if overridden:
        lines.append(f"  {var.name}: {json.dumps(K8S_VALUES[var.name])}")
    elif var.has_fixed_default:
        lines.append(f"  {var.name}: {json.dumps(var.default_text)}")
    else:
        lines.append(f"  # {var.name}: {json.dumps(K8S_EXAMPLES.get(var.name, EXAMPLES.get(var.name, '')))}")
    return lines


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the table markers replaced by the rendered table."""
    begin, end = readme.index(TABLE_BEGIN), readme.index(TABLE_END) + len(TABLE_END)
    return readme[:begin] + render_readme_table() + readme[end:]


RENDERERS: dict[Path, Callable[[str], str]] = {
    README: readme_with_table,
    DOTENV_EXAMPLE: lambda _old: render_dotenv_example(),
    ENV_EXAMPLE: lambda _old: render_env_example(),
    CONFIGMAP: lambda _old: render_configmap(),
}


def stale_files() -> list[Path]:
    """The derived files whose committed text differs from what the catalogue renders."""
    return [path for path, render in RENDERERS.items() if path.read_text("utf-8") != render(path.read_text("utf-8"))]


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        for path in stale_files():
            path.write_text(RENDERERS[path](path.read_text("utf-8")), encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
        return 0
    if argv == ["--check"]:
        stale = stale_files()
        for path in stale:
            print(f"{path.relative_to(REPO)} is stale: run `make config-docs`")
        return 1 if stale else 0
    print("usage: python -m daemon.configdocs --write | --check   (README table, env examples, ConfigMap)")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
