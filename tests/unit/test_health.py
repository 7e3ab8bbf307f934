from __future__ import annotations

import gzip
import urllib.request

from prometheus_client import parser
from prometheus_client.openmetrics import parser as openmetrics_parser

from daemon.health import Health
from daemon.metrics import Metrics
from daemon.probes import ProbeServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_alive_while_starting_then_needs_progress():
    clock = Clock()
    health = Health(stall_seconds=60, clock=clock)
    clock.now = 1000  # a long seed: still alive
    assert health.alive() == (True, "ok")
    assert health.ready() == (False, "starting: schema or seed not done")
    health.set_prepared()
    health.beat()
    assert health.ready() == (True, "ok")
    clock.now += 61
    ok, why = health.alive()
    assert not ok and "stalled" in why
    health.beat()
    assert health.alive()[0]


def test_ready_follows_the_database():
    health = Health(stall_seconds=60, clock=Clock())
    health.set_prepared()
    health.set_db_ok(False)
    assert health.ready() == (False, "database unreachable")
    health.set_db_ok(True)
    assert health.ready()[0]


def test_metrics_are_negotiated_and_compressed_by_prometheus_client():
    """No database: the probe server on an ephemeral port, a scrape hook that fails (ignored)."""

    def broken_hook() -> None:
        raise RuntimeError("database away")

    metrics = Metrics()
    metrics.events.labels("consultas", "insert").inc(3)
    server = ProbeServer("127.0.0.1", 0, Health(stall_seconds=60), metrics, on_scrape=broken_hook)
    server.start()

    def scrape(path: str = "/metrics", **headers: str) -> tuple[dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return {k.lower(): v for k, v in response.getheaders()}, response.read()

    try:
        headers, body = scrape(Accept="application/openmetrics-text; version=1.0.0; charset=utf-8")
        assert headers["content-type"].startswith("application/openmetrics-text")
        families = {f.name: f for f in openmetrics_parser.text_string_to_metric_families(body.decode())}
        assert families["hospital_sim_events_committed"].samples[0].value == 3
        assert "process_resident_memory_bytes" in families and body.endswith(b"# EOF\n")
        headers, body = scrape(**{"Accept-Encoding": "gzip, deflate"})
        assert headers["content-encoding"] == "gzip" and headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {
            s.name: s.value
            for f in parser.text_string_to_metric_families(gzip.decompress(body).decode())
            for s in f.samples
        }
        assert samples["hospital_sim_events_committed_total"] == 3 and samples["hospital_sim_ready"] == 0
        _, body = scrape("/metrics?name[]=hospital_sim_ready&name[]=hospital_sim_ticks_total")
        assert {f.name for f in parser.text_string_to_metric_families(body.decode())} == {
            "hospital_sim_ticks",
            "hospital_sim_ready",
        }
    finally:
        server.stop()
