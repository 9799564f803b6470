"""Landing: each measured candidate is committed to the tuning database as soon as its measurement returns.

MetaSchedule commits a task's records when its task scheduler next joins that task's
runner futures, which it does only when it picks the task again: on a model of 50 tasks
the first records reached the database (and the progress bar) minutes into a tune, and a
driver killed before then lost every measurement made. So a search worker lands them
itself: `LandingSearch` wraps the evolutionary search and notes each candidate it hands
out (its scheduled module, trace, task and argument info); the Ray builder says which
artifact each module was built into (`on_built`); the Ray runner's collector thread calls
`measured` as each measurement returns. The record goes to the `ParquetDatabase` with its
provenance (its periodic flush writes it within seconds) and to the session's progress
(`on_landed`). MetaSchedule's own commit of the same record at its join is a duplicate
(record ids are content-derived) and is dropped; a failed build or run is left to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tvm.ir import IRModule
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule import TuneContext
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult
from tvm.s_tir.meta_schedule.database import TuningRecord
from tvm.s_tir.meta_schedule.runner import RunnerResult
from tvm.s_tir.meta_schedule.search_strategy import MeasureCandidate, PySearchStrategy, SearchStrategy
from tvm.target import Target

from tuning_db.metaschedule import ParquetDatabase


class Landing:
    """Candidates on their way from the search to the database: by scheduled module, then by built artifact."""

    def __init__(self, db: ParquetDatabase, on_landed: Callable[[str, float], None] | None = None) -> None:
        self.db = db
        self.on_landed = on_landed  # (workload key, mean seconds) of each record landed
        self.landed = 0
        self._lock = threading.Lock()
        # (scheduled module, trace, task module, target, argument info); the module is kept alive: its address is the key
        self._by_module: dict[int, tuple[IRModule, Any, IRModule, Target, list]] = {}
        self._by_artifact: dict[str, tuple[IRModule, Any, IRModule, Target, list]] = {}
        self._workloads: dict[int, Any] = {}  # task module's address -> its Workload: found once, not per record

    def expect(self, context: TuneContext, candidates: list[MeasureCandidate]) -> None:
        """Candidates of the task of `context` that the search hands to MetaSchedule to build and measure."""
        with self._lock:
            for c in candidates:
                mod = c.sch.mod
                self._by_module[mod.__hash__()] = (mod, c.sch.trace, context.mod, context.target, list(c.args_info))

    def built(self, inputs: list[BuilderInput], results: list[BuilderResult]) -> None:
        """Which artifact each module was built into (the Ray builder's `on_built`)."""
        with self._lock:
            for b, r in zip(inputs, results):
                entry = self._by_module.pop(b.mod.__hash__(), None)
                if entry is not None and r.artifact_path is not None:
                    self._by_artifact[str(r.artifact_path)] = entry

    def measured(self, artifact_path: str, result: RunnerResult, origin: dict | None) -> None:
        """A measurement has returned (the Ray runner's `on_measured`): commit its record now."""
        with self._lock:
            entry = self._by_artifact.pop(str(artifact_path), None)
        if entry is None or result.error_msg is not None or not result.run_secs:
            return
        _, trace, task_mod, target, args_info = entry
        workload = self._workloads.get(task_mod.__hash__())
        if workload is None:
            workload = self._workloads[task_mod.__hash__()] = self.db.commit_workload(task_mod)
        if origin is not None:
            self.db.expect_origin(trace, origin)
        # the very run times MetaSchedule will commit at its join: the same record id, so that commit is a duplicate
        self.db.commit_tuning_record(TuningRecord(trace, workload, result.run_secs, target, args_info))
        with self._lock:
            self.landed += 1
        if self.on_landed is not None:
            secs = [float(s.value) for s in result.run_secs]
            self.on_landed(self.db.key_of(workload), sum(secs) / len(secs))


@derived_object
class LandingSearch(PySearchStrategy):
    """A search strategy that hands out `inner`'s candidates and tells `landing` about them first."""

    def __init__(self, inner: SearchStrategy, landing: Landing) -> None:
        super().__init__()
        self.inner = inner
        self.landing = landing
        self.context: TuneContext | None = None

    def _initialize_with_tune_context(self, context: TuneContext) -> None:
        self.context = context
        self.inner._initialize_with_tune_context(context)

    def pre_tuning(self, max_trials, num_trials_per_iter, design_spaces, database=None, cost_model=None) -> None:
        self.inner.pre_tuning(max_trials, num_trials_per_iter, design_spaces, database, cost_model)

    def post_tuning(self) -> None:
        self.inner.post_tuning()

    def generate_measure_candidates(self) -> list[MeasureCandidate] | None:
        candidates = self.inner.generate_measure_candidates()
        if candidates:
            self.landing.expect(self.context, list(candidates))
        return candidates

    def notify_runner_results(self, measure_candidates: list[MeasureCandidate], results: list[RunnerResult]) -> None:
        self.inner.notify_runner_results(measure_candidates, results)

    def clone(self) -> SearchStrategy:
        return LandingSearch(self.inner.clone(), self.landing)
