"""Seeding a new workload's search with the best schedules of structurally similar workloads.

A workload the database has never measured for the target starts MetaSchedule's
evolutionary search from random samples. When the database holds workloads of the same
operator family (the same fused task name once its numbering is dropped, e.g.
`fused_conv2d3_add2_relu1` → `fused_conv2d_add_relu`: the same anchor block and
epilogue, other shapes or layouts), their best traces are replayed on the new workload:
first as they are, then with their tile-size decisions dropped so the tiling is
re-sampled for the new shapes. A replay that fails, or that a MetaSchedule
post-processor of the target rejects, is skipped. The survivors are built and measured
like any candidate and committed to the database, so the search then warm-starts from
them as from its own measured records, and the cost model learns from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tvm.s_tir import Schedule
from tvm.s_tir.meta_schedule import TuneContext
from tvm.s_tir.meta_schedule.database import TuningRecord
from tvm.s_tir.meta_schedule.runner import RunnerResult
from tvm.s_tir.meta_schedule.search_strategy import MeasureCandidate
from tvm.s_tir.schedule import Trace

from tuning_db.metaschedule import ParquetDatabase, record_json

from .measure import measure_schedules

TILE_SAMPLING = "SamplePerfectTile"


def family(task_name: str) -> str:
    """The operator family of a fused task name: the numbers the fusion pass appends to each operator's name dropped.

    Only a number that ends an operator's name goes (`conv2d3` → `conv2d`, `add2` → `add`):
    the digits inside one (`conv1d`, `conv2d`, `max_pool3d`) tell different operators apart.
    """
    return re.sub(r"(?<=[A-Za-z])\d+(?=_|$)", "", task_name)


def similar_traces(db: ParquetDatabase, key: str, task_name: str, per_workload: int = 2, limit: int = 8) -> list[Trace]:
    """Best traces of the database's other workloads of the same family for the target, best workloads' first."""
    want = family(task_name)
    rows = []
    for other in db.view.workload_keys():
        row = db.workloads.rows.get(other)
        if other == key or row is None or family(row.task_name) != want:
            continue
        for record in db.view.top_k(other, per_workload):
            rows.append((record.mean_secs, record, other))
    rows.sort(key=lambda r: r[0])
    return [TuningRecord.from_json(record_json(r), db.workloads.workload(k)).trace for _, r, k in rows[:limit]]


def _without_tiling(trace: Trace) -> Trace:
    return Trace(trace.insts, {inst: d for inst, d in trace.decisions.items() if inst.kind.name != TILE_SAMPLING})


def adapt(trace: Trace, context: TuneContext) -> Schedule | None:
    """The trace replayed on the context's workload and post-processed for its target, or None if it does not fit."""
    for attempt in (trace, _without_tiling(trace)):
        sch = Schedule(context.mod, error_render_level="none")
        try:
            attempt.apply_to_schedule(sch, remove_postproc=True)
            sch.enter_postproc()
            if all(p.apply(sch) for p in context.space_generator.postprocs):
                return sch
        except Exception:  # noqa: BLE001, S112 - TVM's schedule errors: this trace does not fit the workload; expected, not logged
            continue
    return None


def seed_workload(
    context: TuneContext,
    db: ParquetDatabase,
    builder,
    runner,
    limit: int,
    on_measured: Callable[[TuneContext, list[MeasureCandidate], list[RunnerResult]], None] | None = None,
    origin_of: Callable[[str], dict | None] | None = None,
) -> int:
    """Measure up to `limit` adapted traces of similar workloads for a workload without records; returns how many.

    `origin_of(artifact_path)` (the runner's provenance) says where each seed was measured.
    """
    workload = db.commit_workload(context.mod)
    key = db.key_of(workload)
    if limit <= 0 or key is None or db.view.count(key):
        return 0
    schedules, seen = [], set()
    for trace in similar_traces(db, key, context.task_name, limit=4 * limit):
        sch = adapt(trace, context)
        if sch is not None and str(sch.trace) not in seen:
            seen.add(str(sch.trace))
            schedules.append(sch)
        if len(schedules) == limit:
            break
    if not schedules:
        return 0
    measured = measure_schedules(schedules, context.target, builder, runner, origin_of)
    for sch, m in zip(schedules, measured):
        if m.origin is not None:
            db.expect_origin(sch.trace, m.origin)
        db.commit_tuning_record(TuningRecord(sch.trace, workload, m.result.run_secs, context.target, m.args))
    db.flush()
    if on_measured is not None:
        on_measured(
            context, [MeasureCandidate(s, m.args) for s, m in zip(schedules, measured)], [m.result for m in measured]
        )
    return len(schedules)
