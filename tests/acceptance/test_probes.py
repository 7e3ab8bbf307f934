"""Acceptance: /healthz, /readyz and /metrics of a running daemon."""

from __future__ import annotations

import gzip
import re
import time
import urllib.error
import urllib.request

from prometheus_client import parser
from prometheus_client.openmetrics import parser as openmetrics_parser

from daemon.pg.cluster import free_port
from tests.support import dashboard
from tests.support.db import wait_until
from tests.support.proc import daemon_process, run


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def fetch(port: int, path: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and the raw body of a 200 answer."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return {k.lower(): v for k, v in response.getheaders()}, response.read()


def wait_status(port: int, path: str, status: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            code, body = get(port, path)
            if code == status:
                return body
            last = (code, body)
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{path} never returned {status}: {last}")


def metrics_matching(port: int, pattern: str) -> str | None:
    """/metrics when it answers 200 and matches ``pattern``."""
    code, text = get(port, "/metrics")
    return text if code == 200 and re.search(pattern, text) else None


def test_probes_and_metrics(pg_env, db):
    port = free_port()
    env = {
        **pg_env,
        "HTTP_PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "STREAM_INTERVAL_SECONDS": "0.05",
        "MAX_JITTER_MS": "10",
        "SUMMARY_EVERY_TICKS": "10",
    }
    with db.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot('probe_slot', 'pgoutput')")
    try:
        with daemon_process(env) as daemon:
            assert wait_status(port, "/healthz", 200) == "ok\n"
            wait_status(port, "/readyz", 200)
            daemon.wait_for("Stream ciclo 10:", timeout=60)
            # the mix is random: poll until a consultas insert was committed (10 ticks may hold none)
            consultas = r'hospital_sim_events_committed_total\{op="insert",table="consultas"\} [1-9]'
            text = wait_until(lambda: metrics_matching(port, consultas), 60, "a consultas insert in /metrics")
            assert 'hospital_sim_seed_rows{table="pacientes"} 2000.0' in text
            assert "hospital_sim_ready 1.0" in text
            assert 'hospital_sim_replication_slot_active{slot="probe_slot"} 0.0' in text
            assert re.search(r'hospital_sim_replication_slot_lag_bytes\{slot="probe_slot"\} [1-9]', text)
            assert get(port, "/nope")[0] == 404
            check_exposition(port)
            code, _ = daemon.terminate()
            assert code == 0
    finally:
        with db.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot('probe_slot')")


def check_exposition(port: int) -> None:
    """prometheus_client's exposition: negotiation, gzip, the process collector, no ``_created``;
    the achieved rate in interval mode; every metric the Grafana dashboard queries."""
    headers, body = fetch(port, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert headers["content-type"].startswith("application/openmetrics-text")
    om_text = body.decode()
    assert om_text.endswith("# EOF\n")
    om_families = {f.name: f for f in openmetrics_parser.text_string_to_metric_families(om_text)}
    assert "hospital_sim_events_committed" in om_families and "process_resident_memory_bytes" in om_families

    headers, body = fetch(port, "/metrics", {})
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in headers
    text = body.decode()
    assert "# EOF" not in text
    families = list(parser.text_string_to_metric_families(text))
    samples = {s.name: s for f in families for s in f.samples}
    assert samples["process_resident_memory_bytes"].value > 0
    assert not [name for name in samples if name.endswith("_created")], "_created series are disabled"
    assert not [s for f in om_families.values() for s in f.samples if s.name.endswith("_created")]
    assert samples["hospital_sim_target_events_per_second"].value == 0  # interval mode
    assert samples["hospital_sim_achieved_events_per_second"].value > 0, "interval mode reports its rate too"

    headers, body = fetch(port, "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    unzipped = gzip.decompress(body).decode()
    assert {s.name for f in parser.text_string_to_metric_families(unzipped) for s in f.samples} >= {
        "process_resident_memory_bytes",
        "hospital_sim_events_committed_total",
    }

    _, body = fetch(port, "/metrics?name[]=hospital_sim_ready", {})
    assert [f.name for f in parser.text_string_to_metric_families(body.decode())] == ["hospital_sim_ready"]

    # A labelled family without children yet (no failure so far, say) has HELP and TYPE but no sample.
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    exposed = set(samples) | {f.name + suffix for f in families for suffix in suffixes.get(f.type, ("",))}
    missing = {
        title: sorted(names - exposed) for title, names in dashboard.queried_metrics().items() if names - exposed
    }
    assert not missing, f"dashboard panels query metrics this daemon does not expose: {missing}"


def test_readiness_is_down_while_the_database_is_unreachable(pg_env):
    port = free_port()
    env = {**pg_env, "PG_PORT": str(free_port()), "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1"}
    with daemon_process(env, ready="unreachable", timeout=30) as daemon:
        assert wait_status(port, "/healthz", 200) == "ok\n"  # alive: it is retrying
        assert get(port, "/readyz") == (503, "starting: schema or seed not done\n")
        code, _ = daemon.terminate()
        assert code == 0


def test_taken_port_is_a_clear_error(pg_env):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, output = run({**pg_env, "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1"}, timeout=30)
    assert code == 1 and "HTTP_PORT" in output and "Traceback" not in output
