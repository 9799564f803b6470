"""Search workers: MetaSchedule's evolutionary search of a group of tasks, run as a Ray task on the cluster.

A session splits the tasks it must tune into groups and runs each group's search
concurrently in its own Ray worker (`search_group`). Each worker drives stock
`tune_tasks` with the Ray builder (candidates compiled over the cluster's CPUs), the
Ray runner (measured by the kind's device actors), the shared Parquet database, and a
`RemoteCostModel` on the session's central `CostModelServer`. Within a worker,
MetaSchedule's task scheduler already overlaps one task's measurements with the next
task's search; across workers, searches run side by side. Before its search, a worker
measures the adapted best schedules of similar workloads for each workload the
database has never measured (`farm.tuning.seeding`); they count against its trials.

A worker reports its profile: seconds blocked on builds, seconds blocked on
measurements, seconds in the cost model (feature extraction and prediction; of which
`cost_model_wait_seconds` waiting on the central server), and the rest of its wall time,
spent in the evolutionary search itself. The runner collects measurements as they return,
so the search is blocked on one only when it asks before it is over (often never).

Where the kind's device measures on cores that also build (one machine, or a device node
that offers its CPUs to Ray tasks), a batch builds only once the worker's measurements
before it are over (the builder's `fence` is the runner's `wait_idle`): a build beside a
measurement, even at idle priority, made the measured times read slow and unevenly so.

Search workers yield the CPU to measurements (`cluster.priority`) and reserve none (`num_cpus=0`): a reservation would let sessions starve
the builds they wait for on a small cluster. With a local-folder database they run on
the driver's node, which holds the folder; with an object-store URI anywhere.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field

import ray
import tvm

from cluster.nodes import NODE_ID_LABEL
from cluster.priority import BACKGROUND, yield_cpu
from cluster.tvm_intrinsics import import_tensor_intrinsics


@dataclass
class SearchProfile:
    """Where a search's wall time went."""

    wall_seconds: float = 0.0
    search_seconds: float = 0.0
    build_seconds: float = 0.0
    measure_seconds: float = 0.0
    cost_model_seconds: float = 0.0
    cost_model_wait_seconds: float = 0.0  # of `cost_model_seconds`, waiting on the central server

    def __add__(self, other: SearchProfile) -> SearchProfile:
        return SearchProfile(**{k: getattr(self, k) + getattr(other, k) for k in asdict(self)})

    def as_json(self) -> dict:
        """Seconds rounded to the millisecond; the search's share is what rounding the others left, so the parts add up as printed."""
        out = {k: round(v, 3) for k, v in asdict(self).items()}
        parts = out["build_seconds"] + out["measure_seconds"] + out["cost_model_seconds"]
        out["search_seconds"] = round(max(0.0, out["wall_seconds"] - parts), 3)
        return out


@dataclass
class SearchGroup:
    """What one search worker tunes, and with what."""

    kind: str
    target: dict
    tasks: list[tuple[str, str, float]]  # (task name, IRModule as TVM JSON, weight)
    trials: int
    trials_per_task: int | None
    trials_per_iter: int
    population: int
    generations: int
    db_uri: str
    job_id: str
    model: str
    work_dir: str
    seeds_per_task: int
    seed: int = 0
    task_names: dict[str, str] = field(default_factory=dict)


def split_tasks(tasks: list[tuple[str, str, float]], groups: int) -> list[list[tuple[str, str, float]]]:
    """Tasks dealt round-robin into at most `groups` non-empty groups (neighbouring layers land apart)."""
    groups = max(1, min(groups, len(tasks)))
    return [tasks[i::groups] for i in range(groups)]


def placement(db_uri: str) -> dict:
    """Ray options that keep a worker on the node holding a local-folder database."""
    if "://" in db_uri:
        return {}
    return {"label_selector": {NODE_ID_LABEL: ray.get_runtime_context().get_node_id()}}


class _ProgressReports:
    """Tells the session's cost-model server of each record landed; a report's error surfaces with the next one."""

    def __init__(self, server: ray.actor.ActorHandle) -> None:
        self.server = server
        self.last: ray.ObjectRef | None = None

    def __call__(self, key: str, mean_secs: float) -> None:
        if self.last is not None:
            ray.get(self.last)
        self.last = self.server.landed.remote(key, mean_secs)


@ray.remote(num_cpus=0, max_retries=0, runtime_env=BACKGROUND)
def search_group(group: SearchGroup, server: ray.actor.ActorHandle) -> dict:
    """Seed the group's new workloads from similar ones, then tune it; returns its profile and the seeds measured."""
    from tvm.s_tir.meta_schedule import TuneContext, tune_tasks
    from tvm.s_tir.meta_schedule.logging import get_loggers_from_work_dir
    from tvm.s_tir.meta_schedule.search_strategy import EvolutionarySearch

    from cluster.builder import RayBuilder
    from cluster.metrics import PublishBestLatency
    from cluster.runner import RayRunner
    from tuning_db.metaschedule import ParquetDatabase, measure_callbacks

    from .cost_model import RemoteCostModel
    from .landing import Landing, LandingSearch
    from .seeding import seed_workload

    start = time.perf_counter()
    yield_cpu()
    import_tensor_intrinsics()
    # MetaSchedule's per-round tables go to the work folder's logs, not to the driver's terminal
    logging.getLogger("tvm.s_tir.meta_schedule").setLevel(logging.WARNING)
    target = tvm.target.Target(group.target)
    db = ParquetDatabase(
        group.db_uri, group.target, job_id=group.job_id, model=group.model, task_names=group.task_names
    )
    landing = Landing(db, on_landed=_ProgressReports(server))
    runner = None
    try:
        runner = RayRunner(group.kind, on_measured=landing.measured)
        builder = RayBuilder(
            fence=runner.wait_idle if runner.pool.shares_cores_with_builds else None, on_built=landing.built
        )
        cost_model = RemoteCostModel(server, db.workloads.key)
        os.makedirs(group.work_dir, exist_ok=True)
        names = [name for name, _, _ in group.tasks]
        evolutionary = EvolutionarySearch(
            population_size=group.population,
            init_min_unmeasured=min(50, group.population // 2),
            genetic_num_iters=group.generations,
        )
        strategy = LandingSearch(evolutionary, landing)
        contexts = [
            TuneContext(
                mod=tvm.ir.load_json(mod_json),
                target=target,
                space_generator="post-order-apply",
                search_strategy=strategy,
                task_name=name,
                logger=logger,
                rand_state=group.seed + i,
                num_threads="physical",
            ).clone()
            for i, ((name, mod_json, _), logger) in enumerate(
                zip(group.tasks, get_loggers_from_work_dir(group.work_dir, names))
            )
        ]
        seeded = sum(
            seed_workload(c, db, builder, runner, group.seeds_per_task, cost_model.update, runner.provenance)
            for c in contexts
        )
        if group.trials > seeded:
            tune_tasks(
                tasks=contexts,
                task_weights=[w for _, _, w in group.tasks],
                work_dir=group.work_dir,
                max_trials_global=group.trials - seeded,
                # seeds count against a task's own cap too (at most `seeds_per_task` of them)
                max_trials_per_task=group.trials_per_task - group.seeds_per_task if group.trials_per_task else None,
                num_trials_per_iter=group.trials_per_iter,
                builder=builder,
                runner=runner,
                database=db,
                cost_model=cost_model,
                measure_callbacks=[*measure_callbacks(db, runner.provenance), PublishBestLatency(group.kind)],
            )
        cost_model.drain()
    finally:
        if runner is not None:
            runner.close()
        db.close()
    wall = time.perf_counter() - start
    build, measure, model = (
        builder.busy_seconds - builder.fence_seconds,
        runner.wait_seconds + builder.fence_seconds,
        cost_model.seconds,
    )
    profile = SearchProfile(
        wall, max(0.0, wall - build - measure - model), build, measure, model, cost_model.wait_seconds
    )
    return {"profile": profile.as_json(), "seeded": seeded}
