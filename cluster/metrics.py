"""The farm's Prometheus metrics, exported through Ray (`ray.util.metrics`) and shown on the Ray dashboard.

Ray prefixes each name with `ray_`; on a node's metrics export port they read
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


class FarmMetrics:
    """The metric objects of one process."""

    def __init__(self) -> None:
        from ray.util.metrics import Counter, Gauge

        self.built = Counter("farm_candidates_built", "Candidates compiled by the Ray builder.", tag_keys=("target",))
        self.measured = Counter("farm_candidates_measured", "Candidates measured on a device.", tag_keys=("kind",))
        self.failed = Counter(
            "farm_candidates_failed", "Candidates that failed to build or run.", tag_keys=("target", "stage")
        )
        self.retried = Counter(
            "farm_candidates_retried", "Measurements sent again after a device was lost.", tag_keys=("kind",)
        )
        self.queue_depth = Gauge("farm_queue_depth", "Measurements submitted and not yet finished.", tag_keys=("kind",))
        self.best_latency = Gauge(
            "farm_best_latency_seconds", "Best mean latency measured per tuning task.", tag_keys=("kind", "task")
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
