"""Records land when measured: a search worker commits each record as its measurement returns, before MetaSchedule joins the task."""

from __future__ import annotations

import pytest
import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule import TuneContext, tune_tasks
from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback
from tvm.s_tir.meta_schedule.search_strategy import EvolutionarySearch

from cluster.builder import RayBuilder
from cluster.measurement import MeasureSettings
from cluster.nodes import nodes_serving
from cluster.runner import RayRunner
from cluster.tvm_intrinsics import import_tensor_intrinsics
from farm.tuning.landing import Landing, LandingSearch
from tests.tuning_db.workloads import matmul
from tuning_db.metaschedule import ParquetDatabase, measure_callbacks

import_tensor_intrinsics()  # MetaSchedule runs in this process: 4 s instead of ~100 s under pytest's stack

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@derived_object
class InDatabaseAtJoin(PyMeasureCallback):
    """Placed before MetaSchedule's own callbacks: at each join, how many of the measurements joined so far the database already holds."""

    def __init__(self, db: ParquetDatabase) -> None:
        super().__init__()
        self.db = db
        self.measured = 0
        self.seen: list[tuple[int, int]] = []  # (measured so far, records in the database) at each join

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        self.measured += sum(1 for r in runner_results if r.error_msg is None and r.run_secs)
        self.seen.append((self.measured, len(self.db)))


def test_each_record_is_in_the_database_before_metaschedule_joins_its_task(farm_cluster, tmp_path):
    kind = "x86-64-v3"
    device_kind = nodes_serving(kind)[0].kind(kind)
    target = tvm.target.Target(device_kind.target)
    db = ParquetDatabase(str(tmp_path / "db"), device_kind.target, flush_interval_s=3600)
    landing = Landing(db)
    runner = RayRunner(kind, MeasureSettings(min_repeat_ms=10), on_measured=landing.measured)
    builder = RayBuilder(on_built=landing.built)
    strategy = LandingSearch(
        EvolutionarySearch(population_size=16, init_min_unmeasured=4, genetic_num_iters=1), landing
    )
    contexts = [
        TuneContext(
            mod=matmul(n),
            target=target,
            space_generator="post-order-apply",
            search_strategy=strategy,
            task_name=f"matmul{n}",
            rand_state=n,
            num_threads=1,
        ).clone()
        for n in (32, 48, 64)
    ]
    check = InDatabaseAtJoin(db)
    try:
        tune_tasks(
            tasks=contexts,
            task_weights=[1.0, 1.0, 1.0],
            work_dir=str(tmp_path / "work"),
            max_trials_global=24,
            num_trials_per_iter=4,
            builder=builder,
            runner=runner,
            database=db,
            cost_model="random",
            measure_callbacks=[check, *measure_callbacks(db)],
        )
    finally:
        runner.close()
        db.close()
    assert check.measured > 0 and check.seen
    assert all(in_db >= measured for measured, in_db in check.seen), (
        f"(measured, in the database) at each join: {check.seen}"
    )
    assert landing.landed == check.measured == len(db), "MetaSchedule's own commit of a landed record adds nothing"
