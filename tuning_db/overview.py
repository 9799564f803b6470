"""A tuning database at a glance, for people: per target its records, workloads, growth by day and saved cost models,
and the largest workloads it holds.

"Largest" is by FLOPs per run: the database stores no task weights (a weight is how often a
model calls a task, so it belongs to a model, not to a workload). One overview reads every
target's index once; callers that show it often cache it by `version`, which changes with
every commit.
"""

from __future__ import annotations

from .cost_models import CostModelStore
from .database import TuningDatabase


def overview(db: TuningDatabase, top: int = 10) -> dict:
    """`{version, records, workloads, files, bytes, targets: {key: {records, workloads, per_day, cost_models}},
    largest: [{workload_key, task_name, flops, first_model, records}]}`."""
    stats = db.stats()
    store = CostModelStore(db)
    targets, records_of = {}, {}
    for target_key in sorted(stats["targets"]):
        view = db.view(target_key)
        keys = view.workload_keys()
        for key in keys:
            records_of[key] = records_of.get(key, 0) + view.count(key)
        targets[target_key] = {
            "records": stats["targets"][target_key],
            "workloads": len(keys),
            "per_day": view.records_per_day(),
            "cost_models": store.saved(target_key),
        }
    workloads = db.workloads(keys=records_of)
    ranked = sorted(workloads.values(), key=lambda w: -(w.flops or 0.0))[:top]
    largest = [
        {
            "workload_key": w.workload_key,
            "task_name": w.task_name,
            "flops": w.flops,
            "first_model": w.first_model,
            "records": records_of.get(w.workload_key, 0),
        }
        for w in ranked
    ]
    keep = ("version", "records", "workloads", "files", "bytes")
    return {**{k: stats[k] for k in keep}, "targets": targets, "largest": largest}
