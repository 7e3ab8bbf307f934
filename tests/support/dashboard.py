"""The Grafana dashboard of the compose stack and the metrics its panels query."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support import REPO

DASHBOARD = REPO / "docker" / "grafana" / "dashboards" / "hospital-sim.json"
# Metric names in a PromQL expression: the daemon's own and the process collector's.
METRIC_NAME = re.compile(r"\b(?:hospital_sim|process)_[a-z0-9_]+\b")


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> list[dict[str, Any]]:
    return load()["panels"]


def queried_metrics() -> dict[str, set[str]]:
    """Panel title -> the metric (sample) names its queries read."""
    return {
        panel["title"]: {name for target in panel["targets"] for name in METRIC_NAME.findall(target["expr"])}
        for panel in panels()
    }


def all_queried_metrics() -> set[str]:
    return set().union(*queried_metrics().values())
