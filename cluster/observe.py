"""The cluster as an operator sees it: every node, its device kinds, liveness, and its farm metrics read live.

Node addresses and metrics ports come from Ray (`cluster.nodes.all_nodes`); each live node's
Prometheus export is fetched (in parallel, with a short deadline, so one unreachable node
costs at most `SCRAPE_TIMEOUT_S`) and parsed with `prometheus_client`'s parser. Only the
farm's own metrics are kept (`cluster.metrics`): measurements queued per kind and the
running totals of candidates built, measured, failed and retried.
"""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor

from .metrics import BUILT, FAILED, MEASURED, QUEUE_DEPTH, RETRIED, exported
from .nodes import DeviceNode, all_nodes

SCRAPE_TIMEOUT_S = 2.0
FIGURES = {exported(QUEUE_DEPTH): "queued", exported(MEASURED): "measured", exported(RETRIED): "retried"}
TOTALS = {exported(BUILT): "built", exported(FAILED): "failed"}


def parse_farm_metrics(text: str) -> dict:
    """The farm's figures in a Prometheus export: `{queued|measured|retried: {kind: n}, built|failed: n}`."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict = {name: {} for name in FIGURES.values()} | dict.fromkeys(TOTALS.values(), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in FIGURES:
                kind = sample.labels.get("kind", "")
                figures = out[FIGURES[sample.name]]
                figures[kind] = figures.get(kind, 0.0) + sample.value
            elif sample.name in TOTALS:
                out[TOTALS[sample.name]] += sample.value
    return out


def scrape(node: DeviceNode, timeout_s: float = SCRAPE_TIMEOUT_S) -> dict:
    """A live node's farm figures, or `{"error": …}` when its export cannot be read."""
    if not node.metrics_port:
        return {"error": "no metrics export port"}
    url = f"http://{node.address}:{node.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return parse_farm_metrics(response.read().decode())
    except (OSError, ValueError) as e:
        return {"error": f"{url}: {e}"}


def node_states() -> list[dict]:
    """Every node: id, address, alive, device kinds with their targets, cores, and (live nodes) the farm's figures."""
    nodes = all_nodes()
    live = [n for n in nodes if n.alive]
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(live)))) as pool:
        figures = dict(zip((n.node_id for n in live), pool.map(scrape, live)))
    states = []
    for node in sorted(nodes, key=lambda n: (not n.alive, n.address, n.node_id)):
        state = node.as_json()
        state.update(alive=node.alive, metrics=figures.get(node.node_id))
        states.append(state)
    return states
