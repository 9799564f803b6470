"""A Grafana dashboard for the farm's metrics (`cluster.metrics`), which the Ray dashboard itself never shows.

The panels: measurements queued per device kind; candidates built, measured, failed (by
target and stage) and retried per second; the best latency measured per tuning task. Every
expression is PromQL over the names a Ray node exports (`cluster.metrics.exported`), and the
data source is a template variable (Prometheus by default), so the JSON imports into any
Grafana. Ray's head provisions every JSON file in `<session>/metrics/grafana/dashboards`
into a Grafana it is pointed at (`RAY_GRAFANA_HOST`), so `install` drops it there.
"""

from __future__ import annotations

import json
import os
import re

from cluster.metrics import BEST_LATENCY, BUILT, FAILED, MEASURED, QUEUE_DEPTH, RETRIED, exported

UID = "tuning-farm"
FILE_NAME = "tuning_farm_grafana_dashboard.json"
RATE_WINDOW = "1m"


def _rate(name: str, by: str) -> str:
    return f"sum by ({by}) (rate({exported(name)}[{RATE_WINDOW}]))"


# (title, unit, [(PromQL, legend)]) per panel, in the order shown
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Measurements queued", "short", [(f"sum by (kind) ({exported(QUEUE_DEPTH)})", "{{kind}}")]),
    (
        "Candidates measured and retried per second",
        "ops",
        [(_rate(MEASURED, "kind"), "measured {{kind}}"), (_rate(RETRIED, "kind"), "retried {{kind}}")],
    ),
    (
        "Candidates built and failed per second",
        "ops",
        [(_rate(BUILT, "target"), "built {{target}}"), (_rate(FAILED, "target, stage"), "failed {{stage}} {{target}}")],
    ),
    ("Best latency per task", "s", [(f"min by (kind, task) ({exported(BEST_LATENCY)})", "{{kind}} {{task}}")]),
]


def dashboard() -> dict:
    """The dashboard as Grafana's JSON model."""
    panels = []
    for i, (title, unit, queries) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"x": 12 * (i % 2), "y": 8 * (i // 2), "w": 12, "h": 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
                "targets": [
                    {"refId": chr(ord("A") + j), "expr": expr, "legendFormat": legend}
                    for j, (expr, legend) in enumerate(queries)
                ],
            }
        )
    return {
        "uid": UID,
        "title": "Tuning farm",
        "tags": ["tuning-farm", "ray"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": panels,
    }


def expressions(board: dict) -> list[str]:
    """Every PromQL expression of a dashboard's panels."""
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def metric_names(expr: str) -> set[str]:
    """The farm's metric names a PromQL expression reads."""
    return set(re.findall(r"\bray_farm_[a-z_]+", expr))


def dashboards_dir(ray_session: str) -> str:
    """Where Ray's head writes the Grafana dashboards it provisions, for the session folder `ray_session`."""
    return os.environ.get("RAY_METRICS_GRAFANA_DASHBOARD_OUTPUT_DIR") or os.path.join(
        ray_session, "metrics", "grafana", "dashboards"
    )


def install(ray_session: str) -> str:
    """Write the dashboard where Ray's head provisions Grafana dashboards for `ray_session`; the file's path."""
    folder = dashboards_dir(ray_session)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{folder} does not exist: is {ray_session} the session folder of a Ray head (e.g. /tmp/ray/session_latest)?"
        )
    path = os.path.join(folder, FILE_NAME)
    with open(path + ".tmp", "w") as f:
        json.dump(dashboard(), f, indent=2)
    os.replace(path + ".tmp", path)
    return path
