"""Prometheus metrics, kept in the daemon's own registry (no global state, one per process).

The registry also holds the process collector (``process_resident_memory_bytes``,
``process_cpu_seconds_total``, ...). ``_created`` series are switched off by
:func:`disable_created_series`, called once at startup (prometheus_client's switch is global).
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        self.events = Counter(
            "hospital_sim_events_committed", "Changes committed, by table and operation", ["table", "op"], registry=r
        )
        self.failures = Counter(
            "hospital_sim_event_failures", "Events rolled back, by kind of failure", ["kind"], registry=r
        )
        self.event_latency = Histogram(
            "hospital_sim_event_seconds", "Time from event start to commit", buckets=LATENCY_BUCKETS, registry=r
        )
        self.tick_duration = Histogram(
            "hospital_sim_tick_seconds", "Duration of one scheduler tick", buckets=LATENCY_BUCKETS, registry=r
        )
        self.ticks = Counter("hospital_sim_ticks", "Scheduler ticks run", registry=r)
        self.ddl_steps = Counter(
            "hospital_sim_ddl_steps", "Schema changes committed (STREAM_DDL_EVERY_SECONDS)", ["step"], registry=r
        )
        self.reconnects = Counter("hospital_sim_reconnects", "Database reconnections after a lost session", registry=r)
        self.seed_rows = Gauge(
            "hospital_sim_seed_rows", "Rows loaded by the seed of this process, by table", ["table"], registry=r
        )
        self.target_rate = Gauge(
            "hospital_sim_target_events_per_second", "Configured event rate (0 = interval mode)", registry=r
        )
        self.achieved_rate = Gauge(
            "hospital_sim_achieved_events_per_second",
            "Committed events per second over the last rate window (rate mode 60 s, interval mode 10 s or 3 ticks)",
            registry=r,
        )
        self.dropped = Counter(
            "hospital_sim_events_dropped",
            "Rate mode: due events dropped because the backlog exceeded 5 s of target",
            registry=r,
        )
        self.ready = Gauge(
            "hospital_sim_ready", "1 when the database is reachable and schema and seed are done", registry=r
        )
        self.slot_lag = Gauge(
            "hospital_sim_replication_slot_lag_bytes",
            "WAL bytes a replication slot has not confirmed",
            ["slot"],
            registry=r,
        )
        self.slot_active = Gauge(
            "hospital_sim_replication_slot_active", "1 when a consumer is attached to the slot", ["slot"], registry=r
        )


def disable_created_series() -> None:
    """No ``*_created`` series: they double the series count and no dashboard uses them."""
    prometheus_client.disable_created_metrics()
