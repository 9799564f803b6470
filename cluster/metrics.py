"""The farm's Prometheus metrics, exported through Ray (`ray.util.metrics`) on each node's metrics export port.

The Ray dashboard does not show them (its Metrics tab embeds only Ray's own Grafana
panels): scrape them with Prometheus over Ray's service-discovery file, and chart them with
the Grafana dashboard `farm metrics grafana-dashboard` prints (`farm.grafana`).
Ray prefixes each name with `ray_` (`exported`); on a node's metrics export port they read
`ray_farm_candidates_built_total{target=…}`, `ray_farm_candidates_measured_total{kind=…}`,
`ray_farm_candidates_failed_total{target=…,stage=build|run}` (by target key: the builder
knows no device kind),
`ray_farm_candidates_retried_total{kind=…}`, `ray_farm_queue_depth{kind=…}` (measurements
submitted and not yet finished) and `ray_farm_best_latency_seconds{kind=…,task=…}`.

Metric objects need a connected Ray worker or driver, so they are made on first use.
`PublishBestLatency` is a MetaSchedule measure callback that keeps the best-latency
gauge of every task of a session up to date.
"""

from __future__ import annotations

import functools
import threading

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

# The metrics' names as this process registers them (Ray exports each as `ray_<name>`, counters with `_total`).
BUILT, MEASURED, FAILED, RETRIED = (
    "farm_candidates_built",
    "farm_candidates_measured",
    "farm_candidates_failed",
    "farm_candidates_retried",
)
QUEUE_DEPTH, BEST_LATENCY = "farm_queue_depth", "farm_best_latency_seconds"
COUNTERS = (BUILT, MEASURED, FAILED, RETRIED)


def exported(name: str) -> str:
    """The name a metric registered as `name` has in a Prometheus scrape of a Ray node."""
    return f"ray_{name}_total" if name in COUNTERS else f"ray_{name}"


class FarmMetrics:
    """The metric objects of one process."""

    def __init__(self) -> None:
        from ray.util.metrics import Counter, Gauge

        self.built = Counter(BUILT, "Candidates compiled by the Ray builder.", tag_keys=("target",))
        self.measured = Counter(MEASURED, "Candidates measured on a device.", tag_keys=("kind",))
        self.failed = Counter(FAILED, "Candidates that failed to build or run.", tag_keys=("target", "stage"))
        self.retried = Counter(RETRIED, "Measurements sent again after a device was lost.", tag_keys=("kind",))
        self.queue_depth = Gauge(QUEUE_DEPTH, "Measurements submitted and not yet finished.", tag_keys=("kind",))
        self.best_latency = Gauge(
            BEST_LATENCY, "Best mean latency measured per tuning task.", tag_keys=("kind", "task")
        )
        self._depth: dict[str, int] = {}
        self._best: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def queued(self, kind: str, delta: int) -> None:
        with self._lock:
            depth = self._depth[kind] = self._depth.get(kind, 0) + delta
        self.queue_depth.set(depth, tags={"kind": kind})

    def offer_latency(self, kind: str, task: str, seconds: float) -> None:
        with self._lock:
            best = self._best.get((kind, task))
            if best is not None and best <= seconds:
                return
            self._best[(kind, task)] = seconds
        self.best_latency.set(seconds, tags={"kind": kind, "task": task})


@functools.cache
def metrics() -> FarmMetrics:
    return FarmMetrics()


@derived_object
class PublishBestLatency(PyMeasureCallback):
    """A measure callback that reports each task's best measured latency for device kind `kind`."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        task = str(task_scheduler.tasks_[task_id].ctx.task_name)
        means = [
            sum(float(s) for s in r.run_secs) / len(r.run_secs)
            for r in runner_results
            if r.error_msg is None and r.run_secs
        ]
        if means:
            metrics().offer_latency(self.kind, task, min(means))
