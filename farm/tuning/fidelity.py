"""Fidelity: the best few candidates of each tuned task measured again, on a quiet device, before the variant is compiled.

During the search a candidate is measured while the node builds and searches beside it,
and the farm keeps the fastest repeats of each measurement (`MeasureSettings`) to shed
that interference; still, a candidate measured in a busy moment can read slow and lose
its place, and one measured in a lull can read fast and take it. Once a session's search
has ended, nothing else of it runs on the node, so the best few records of every task
it tuned (`TuningPlan.remeasure`, 3 by default; tasks with at least two records: with one
there is nothing to choose) are rebuilt and measured again with more repeats (`QUIET`).
The figures are committed as records of their own, with their origin, so the database's
best record of each task, which compilation and the hybrid plan use, now comes from a
quiet measurement wherever the quiet figures are the lowest known. `remeasure` reports how often the pick changed and by how
much: the quiet time of the search's pick over the quiet time of the new pick.
"""

from __future__ import annotations

import time

import tvm
from tvm.s_tir import Schedule
from tvm.s_tir.meta_schedule.database import TuningRecord

from cluster.measurement import MeasureSettings
from tuning_db.metaschedule import ParquetDatabase, record_json
from tuning_db.schema import mean_run_secs

from .measure import measure_schedules

QUIET = MeasureSettings(repeat=10, keep_fastest=5)


def _candidate(row, workload, target: tvm.target.Target) -> tuple[TuningRecord, Schedule] | None:
    """The record's schedule replayed on its workload, or None if it no longer replays."""
    record = TuningRecord.from_json(record_json(row), workload)
    sch = Schedule(workload.mod)
    try:
        record.trace.apply_to_schedule(sch, remove_postproc=False)
    except Exception:  # noqa: BLE001 - TVM's schedule errors: a record of an older TVM that no longer replays is skipped
        return None
    return record, sch


def remeasure(
    db: ParquetDatabase, target: tvm.target.Target, keys: dict[str, str], builder, runner, top_k: int
) -> dict:
    """Measure the `top_k` best records of each task (`keys`: workload key -> task name) again; commit them; report.

    Returns `tasks` (how many were re-measured), `measured`, `pick_changed`, `seconds`, and per
    changed task its search pick's and new pick's quiet times (µs) and their ratio (`gain`).
    """
    start = time.perf_counter()
    jobs = []  # (key, search rank, record, schedule)
    for key in keys:
        rows = db.view.top_k(key, top_k)
        if len(rows) < 2:
            continue
        workload = db.workloads.workload(key)
        for rank, row in enumerate(rows):
            candidate = _candidate(row, workload, target)
            if candidate is not None:
                jobs.append((key, rank, *candidate))
    quiet: dict[str, list[tuple[float, int]]] = {}
    for (key, rank, record, _), m in zip(
        jobs, measure_schedules([sch for *_, sch in jobs], target, builder, runner, runner.provenance)
    ):
        secs = m.result.run_secs
        if secs is None:
            continue
        if m.origin is not None:
            db.expect_origin(record.trace, {**m.origin, "fidelity": True})
        db.commit_tuning_record(TuningRecord(record.trace, record.workload, secs, target, m.args))
        if (mean := mean_run_secs(secs)) is not None:  # a candidate that failed now is recorded, never picked
            quiet.setdefault(key, []).append((mean, rank))
    db.flush()
    changes = []
    for key, figures in quiet.items():
        new_secs, new_rank = min(figures)
        old = [secs for secs, rank in figures if rank == 0]
        if new_rank != 0 and old:
            changes.append(
                {
                    "task": keys[key],
                    "search_pick_us": round(old[0] * 1e6, 2),
                    "new_pick_us": round(new_secs * 1e6, 2),
                    "gain": round(old[0] / new_secs, 3),
                }
            )
    return {
        "tasks": len(quiet),
        "measured": sum(map(len, quiet.values())),
        "pick_changed": len(changes),
        "changes": changes,
        "seconds": round(time.perf_counter() - start, 1),
    }
