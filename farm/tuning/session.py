"""One tuning session: an imported model tuned for one device kind on the Ray farm, compiled into a variant folder.

The session extracts the model's tuning tasks for the kind's canonical target, and
skips every task whose workload already has `done_after` measured records in the
shared database for that target (its best records are applied as they are: another
model, or an earlier run of this one, paid for them). The other tasks are searched by
search workers (`farm.tuning.search`): MetaSchedule's evolutionary search, warm-started
from the database's best records of each workload, candidates built by the Ray builder
and measured by the Ray runner on devices of the kind, all workers driven by the
session's one central XGBoost cost model (`farm.tuning.cost_model`), pre-trained from
everything the database knows about the target and saved back when the search ends.
Every measurement is committed to the database after each batch, so a session whose
driver dies resumes from what was recorded when the same command runs again.
Once the search has ended, the best few candidates of each task it tuned are measured
again on the quiet device (`farm.tuning.fidelity`), before the variant is compiled.

The variant folder (`<out>/<kind>/`) holds the compiled Relax VM library with the
weights bound (`model.so`) and `metadata.json` (inputs, outputs, target, TVM version,
tuning summary), which the runtime and the packager load as they are.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace

import tvm
from tvm.s_tir.meta_schedule import relax_integration

from cluster.devices import required_cpu_flags
from cluster.nodes import nodes_serving
from tuning_db.database import TuningDatabase
from tuning_db.metaschedule import ParquetDatabase
from tuning_db.workload import WorkloadIndex, estimate_flops

from ..models.onnx_import import OnnxModel
from ..runtime.container import VariantMetadata, file_sha256, write_metadata
from ..runtime.engines import RUNTIME_ENGINES
from . import blocked_layout, fast_math, winograd

# TVM's operator lowering keeps global state (TOPI tag scopes): sessions in threads of one
# driver extract tasks and compile one at a time, while their searches run side by side.
_TVM_LOCK = threading.Lock()

FIRST_ROUND_SHARE = (
    0.5  # of the trial budget, at most, for the first round over all tasks; the rest goes by latency share
)
SEEDS_PER_TASK = 4  # adapted schedules of similar workloads measured first for a never-measured workload

# Graph-level rewrites for the target, applied in this order before task extraction and compilation (each a no-op where it does not apply)
GRAPH_REWRITES = {
    "fast_math": fast_math.rewrite,
    "blocked_layout": blocked_layout.rewrite,
    "winograd": winograd.rewrite,
}
# those on by default: each kept only where it won end to end (`blocked_layout`'s and `winograd`'s docstrings say why
# they are not)
DEFAULT_REWRITES = ("fast_math",)

VARIANT_LIBRARY = RUNTIME_ENGINES["tvm"].file_name


@dataclass
class TuningPlan:
    """How much to spend: trials over all tasks, per task, and the record count that makes a task done."""

    trials: int
    trials_per_task: int | None = None
    done_after: int = 64
    trials_per_iter: int = 64
    generations: int = 2
    remeasure: int = (
        3  # best candidates of each task tuned that are measured again on a quiet device (`fidelity`); 0: none
    )

    def __post_init__(self) -> None:
        if self.trials < 0 or self.remeasure < 0 or (self.trials_per_task is not None and self.trials_per_task <= 0):
            raise ValueError("trial budgets must be positive")

    def per_iteration(self, tasks: int) -> int:
        """Candidates per search round: small enough that the first round over all tasks takes at most `FIRST_ROUND_SHARE` of the budget.

        MetaSchedule's gradient scheduler gives every task one round, then each next round to
        the task with the largest weighted latency per round so far: the rest of the budget
        follows each task's share of the model's estimated latency. Rounds of budget / tasks
        (the old size) spent the whole budget on that first pass, so a 1,000-trial tune of
        YOLOv8n's 45 tasks gave every task ~22 trials, its heaviest convolutions as many as a
        reshape.
        """
        first_pass = int(self.trials * FIRST_ROUND_SHARE) // max(tasks, 1)
        return max(1, min(self.trials_per_iter, first_pass, self.trials_per_task or self.trials))

    def left_after(self, spent: int, tasks: int) -> TuningPlan | None:
        """The plan for what is left once `spent` records of the tasks to tune exist; None if not one search round is left.

        `--trials N` asks for N trials' worth of records of the model's unfinished tasks:
        records measured earlier (a run whose driver died, another model) count, so the
        same command run again continues where it stopped, and does nothing once done.
        """
        left = replace(self, trials=max(0, self.trials - spent))
        return left if left.trials and left.trials >= left.per_iteration(tasks) else None

    def population(self, tasks: int) -> int:
        """MetaSchedule's evolutionary-search population, scaled to the candidates a round measures.

        Every round of every task evolves the whole population (512 by default, over 4
        generations) to pick its few candidates, and mutating a conv schedule costs ~10 ms
        of a core: at the defaults a round of 22 candidates took 24 s of search on 2 cores
        against ~5 s to build and measure them, so the search, not the devices, set the
        pace. 16 candidates in the population per candidate measured, at most 256, evolved
        over `generations` (2) generations: 6.6 s for the same round.
        """
        return max(64, min(256, 16 * self.per_iteration(tasks)))


@dataclass
class SessionSummary:
    """What one session did, as the `--json` summary reports it per kind."""

    kind: str
    target_key: str
    variant_dir: str
    tasks: int
    tasks_tuned: int
    trials_measured: int
    trials_reused: int
    tuning_seconds: float
    compile_seconds: float
    search_workers: int = 0
    profile: dict = field(default_factory=dict)
    cost_model: dict = field(default_factory=dict)
    task_latency_us: dict[str, float] = field(default_factory=dict)
    # by workload key: task name, weight and the best record's µs the variant was compiled with (offers compare to them)
    workloads: dict[str, dict] = field(default_factory=dict)
    fidelity: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return dict(self.__dict__)


def named_params(mod: tvm.IRModule, params: dict, num_inputs: int) -> dict:
    """The imported weights by parameter name (the parameters of `main` after its `num_inputs` inputs)."""
    names = [p.name for p in mod["main"].params[num_inputs:]]
    return dict(zip(names, params.get("main", [])))


def graph_rewrites() -> list[str]:
    """The graph rewrites `relax_for` applies, in order: `DEFAULT_REWRITES`, or those `$FARM_GRAPH_REWRITES` names.

    The variable (comma-separated names of `GRAPH_REWRITES`; empty for none) exists to
    measure each rewrite's effect (`scripts/bench_vs_ort.py --rewrites`). It changes the
    tasks, so it must be the same in every process of a tune: set it on every node.
    """
    names = os.environ.get("FARM_GRAPH_REWRITES")
    if names is None:
        return list(DEFAULT_REWRITES)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(GRAPH_REWRITES))
    if unknown:
        raise ValueError(f"FARM_GRAPH_REWRITES names unknown rewrites {unknown}; known: {', '.join(GRAPH_REWRITES)}")
    return [n for n in GRAPH_REWRITES if n in chosen]


def relax_for(model: OnnxModel, target: tvm.target.Target) -> tuple[tvm.IRModule, dict]:
    """The model's Relax module with the graph-level rewrites chosen (`graph_rewrites`) applied for `target`, and its weights
    by parameter name: what task extraction and compilation both start from, so their task keys match."""
    mod, params = model.relax
    rewritten = mod
    for name in graph_rewrites():
        rewritten = GRAPH_REWRITES[name](rewritten, target)
    return rewritten, named_params(mod, params, len(model.inputs))


def fused_module(mod: tvm.IRModule, params: dict, target: tvm.target.Target) -> tvm.IRModule:
    """The model lowered to fused TIR functions exactly as `compile_relax` prepares it, so task keys match its lookups."""
    from tvm import relax
    from tvm.relax import pipeline

    passes = [
        relax.transform.BindParams("main", params),
        *pipeline.library_dispatch_passes(target),
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ]
    with target, tvm.transform.PassContext(opt_level=3):
        return tvm.transform.Sequential(passes)(mod)


def default_search_workers(tasks: int) -> int:
    """One search worker per four CPUs of the cluster (the rest build candidates), at most one per task."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(tasks, cpus // 4))


class TuningSession:
    """Tune `model` for device kind `kind` and write its variant to `<out_dir>/<kind>/`.

    `run()` does it all; `progress()` may be called from another thread meanwhile.
    """

    def __init__(
        self,
        model: OnnxModel,
        model_name: str,
        kind: str,
        plan: TuningPlan,
        db_uri: str,
        out_dir: str,
        *,
        job_id: str = "",
        search_workers: int | None = None,
    ) -> None:
        self.model, self.model_name, self.kind, self.plan = model, model_name, kind, plan
        self.db_uri, self.out_dir, self.job_id = db_uri, out_dir, job_id
        self.search_workers = search_workers
        self.stage = "waiting"
        self.server = None
        self.total_trials = 0
        self._last: dict = {"trials": 0, "estimated_latency_s": None}
        self.task_weights: dict[str, float] = {}
        self.tasks: dict[str, dict] = {}  # by workload key: name, FLOPs, records stored before, their best seconds
        self.incumbent: VariantMetadata | None = None  # the variant written before tuning, kept until a faster one

    @property
    def variant_dir(self) -> str:
        return os.path.join(self.out_dir, self.kind)

    def progress(self) -> dict:
        """Stage, trials measured so far of the trials planned, and the model latency estimated from the best records."""
        import ray

        server = self.server
        if server is not None:
            try:
                self._last = ray.get(server.progress.remote(), timeout=5)
            except ray.exceptions.RayError:
                pass
        incumbent = self.incumbent.engines.get(self.incumbent.engine) if self.incumbent else None
        return {
            "kind": self.kind,
            "stage": self.stage,
            "total": self.total_trials,
            **self._last,
            "tasks": self._task_table(),
            "best_so_far": {"engine": self.incumbent.engine, "latency_ms": incumbent.latency_ms} if incumbent else None,
        }

    def _task_table(self) -> list[dict]:
        """The tasks as MetaSchedule reports them: name, FLOPs, weight, trials measured (stored and this session),
        best run time, GFLOP/s at that time, and whether the plan counts it done."""
        measured = self._last.get("tasks") or {}
        table = []
        for key, task in self.tasks.items():
            now = measured.get(key, {})
            stored_us = None if task["best_s"] is None else task["best_s"] * 1e6
            best_us = min((b for b in (now.get("best_us"), stored_us) if b is not None), default=None)
            trials = task["stored"] + now.get("trials", 0)
            flops = task["flops"]
            table.append(
                {
                    "task": task["task"],
                    "flops": flops,
                    "weight": self.task_weights.get(key, 0.0),
                    "trials": trials,
                    "best_us": best_us,
                    "gflops": flops / best_us / 1e3 if flops and best_us else None,
                    "done": trials >= self.plan.done_after,
                }
            )
        return table

    def run(self) -> SessionSummary:
        from .search import SearchProfile

        self.stage = "extracting tasks"
        device_kind = nodes_serving(self.kind)[0].kind(self.kind)
        target = tvm.target.Target(device_kind.target)
        with _TVM_LOCK:
            tasks = relax_integration.extract_tasks(fused_module(*relax_for(self.model, target), target), target)
        stored = TuningDatabase(self.db_uri)
        view = stored.view(device_kind.target_key)
        index = WorkloadIndex(stored.workloads(keys=view.workload_keys()))  # as the search workers' databases key them
        keys = [index.key(t.dispatched[0]) for t in tasks]
        self.task_weights = {k: float(t.weight) for t, k in zip(tasks, keys)}
        counts = {k: view.count(k) for k in keys}
        best = {k: rows[0].mean_secs for k in keys if (rows := view.top_k(k, 1))}
        self.tasks = {
            k: {
                "task": t.task_name,
                "flops": estimate_flops(t.dispatched[0]),
                "stored": counts[k],
                "best_s": best.get(k),
            }
            for t, k in zip(tasks, keys)
        }
        to_tune = [(t, k) for t, k in zip(tasks, keys) if counts[k] < self.plan.done_after]
        budget = self.plan.left_after(sum(counts[k] for _, k in to_tune), len(to_tune))
        start = time.perf_counter()
        profile, cost_model, workers = SearchProfile(), {}, 0
        if to_tune and budget is not None:
            profile, cost_model, workers = self._search(device_kind, to_tune, budget, best)
        else:
            to_tune = []
        tuning_s = time.perf_counter() - start
        # one view of the target for the re-measurement and the compilation, which uses what it committed
        db = ParquetDatabase(self.db_uri, target, job_id=self.job_id, model=self.model_name, auto_compact_files=None)
        try:
            fidelity = (
                self._remeasure(db, target, {k: t.task_name for t, k in to_tune})
                if to_tune and self.plan.remeasure
                else {}
            )
            self.stage = "compiling"
            start = time.perf_counter()
            executable = compile_with_records(db, self.model, target)
            compile_s = time.perf_counter() - start
            latency, workloads = {}, {}
            for task, key in zip(tasks, keys):
                best_rows = db.view.top_k(key, 1)
                if best_rows and best_rows[0].mean_secs is not None:
                    latency[task.task_name] = best_rows[0].mean_secs * 1e6
                    workloads[key] = {
                        "task": task.task_name,
                        "weight": float(task.weight),
                        "us": latency[task.task_name],
                    }
            measured = len(db.view.record_ids_of_job(self.job_id)) - fidelity.get("measured", 0) if self.job_id else 0
        finally:
            db.close()
        summary = SessionSummary(
            kind=self.kind,
            target_key=device_kind.target_key,
            variant_dir=self.variant_dir,
            tasks=len(tasks),
            tasks_tuned=len(to_tune),
            trials_measured=measured,
            trials_reused=sum(counts.values()),
            tuning_seconds=tuning_s,
            compile_seconds=compile_s,
            search_workers=workers,
            profile=profile.as_json(),
            cost_model=cost_model,
            task_latency_us=latency,
            workloads=workloads,
            fidelity=fidelity,
        )
        write_variant(executable, self.model, self.model_name, device_kind.as_json(), summary, self.incumbent)
        self.stage = "done"
        return summary

    def _remeasure(self, db: ParquetDatabase, target: tvm.target.Target, keys: dict[str, str]) -> dict:
        """The best candidates of the tasks this session tuned, measured again now that its search is over (`fidelity`)."""
        from cluster.builder import RayBuilder
        from cluster.runner import RayRunner

        from .fidelity import QUIET, remeasure

        self.stage = "re-measuring the best candidates"
        return remeasure(db, target, keys, RayBuilder(), RayRunner(self.kind, QUIET), self.plan.remeasure)

    def _search(self, device_kind, to_tune: list, plan: TuningPlan, best: dict[str, float]):
        """Pre-train the central cost model, run the search workers, save the model back; (profile, cost model info, workers)."""
        import ray

        from .cost_model import CostModelServer
        from .search import SearchGroup, SearchProfile, placement, search_group, split_tasks

        self.total_trials = plan.trials
        self.stage = "pre-training the cost model"
        self.server = CostModelServer.options(**placement(self.db_uri)).remote(
            self.db_uri, device_kind.target, device_kind.target_key, self.job_id, self.task_weights, best
        )
        try:
            cost_model = {"pretrain": ray.get(self.server.pretrain.remote())}
            self.stage = "searching"
            specs = [(t.task_name, tvm.ir.save_json(t.dispatched[0]), float(t.weight)) for t, _ in to_tune]
            groups = split_tasks(specs, self.search_workers or default_search_workers(len(specs)))
            refs = [
                search_group.options(**placement(self.db_uri)).remote(
                    SearchGroup(
                        kind=self.kind,
                        target=device_kind.target,
                        tasks=group,
                        trials=max(1, plan.trials * len(group) // len(specs)),
                        trials_per_task=plan.trials_per_task,
                        trials_per_iter=plan.per_iteration(len(specs)),
                        population=plan.population(len(specs)),
                        generations=plan.generations,
                        db_uri=self.db_uri,
                        job_id=self.job_id,
                        model=self.model_name,
                        work_dir=os.path.join(self.out_dir, ".work", self.kind, f"search-{i}"),
                        seed=1000 * i,
                        seeds_per_task=min(SEEDS_PER_TASK, plan.trials_per_task // 2)
                        if plan.trials_per_task
                        else SEEDS_PER_TASK,
                        task_names={k: t.task_name for t, k in to_tune},
                    ),
                    self.server,
                )
                for i, group in enumerate(groups)
            ]
            profile, seeded = SearchProfile(), 0
            for out in ray.get(refs):
                profile, seeded = profile + SearchProfile(**out["profile"]), seeded + out["seeded"]
            cost_model["seeded_from_similar"] = seeded
            self.stage = "saving the cost model"
            cost_model["saved"] = ray.get(self.server.save.remote())
            self._last = ray.get(self.server.progress.remote())
            cost_model["train_seconds"] = round(self._last["train_seconds"], 3)
            return profile, cost_model, len(groups)
        finally:
            server, self.server = self.server, None
            ray.kill(server)


def compile_with_records(db: ParquetDatabase, model: OnnxModel, target: tvm.target.Target):
    """The model compiled for `target` with the best schedule of each task the database holds (TVM's defaults for the others)."""
    with _TVM_LOCK:
        mod, named = relax_for(model, target)
        return relax_integration.compile_relax(db, mod, target, named)


def exported_library(executable) -> bytes:
    """The bytes of `executable` exported as a shared library (what a variant's `model.so` holds)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="farm-library-") as folder:
        path = os.path.join(folder, VARIANT_LIBRARY)
        executable.export_library(path)
        with open(path, "rb") as f:
            return f.read()


def variant_metadata(model: OnnxModel, model_name: str, device_kind: dict, extra: dict) -> VariantMetadata:
    """A variant folder's metadata before any engine is recorded: the model, its tensors, the kind and its target."""
    return VariantMetadata(
        model=model_name,
        inputs=[i.as_json() for i in model.inputs],
        outputs=[o.as_json() for o in model.outputs],
        target=device_kind["target"],
        kind=device_kind["name"],
        cpu_flags=required_cpu_flags(device_kind["target"]["mcpu"]) if device_kind["platform"] == "cpu" else [],
        extra={
            "source": model.source,
            "source_sha256": file_sha256(model.source) if os.path.isfile(model.source) else "",
            "target_key": device_kind["target_key"],
            **extra,
        },
    )


def write_variant(
    executable,
    model: OnnxModel,
    model_name: str,
    device_kind: dict,
    summary: SessionSummary,
    incumbent: VariantMetadata | None = None,
) -> None:
    """The variant folder: the compiled library, then its metadata (written last, so a folder with metadata is complete),
    still running the `incumbent`'s engine (the variant written before tuning) until the engines are compared again."""
    os.makedirs(summary.variant_dir, exist_ok=True)
    library = os.path.join(summary.variant_dir, VARIANT_LIBRARY)
    executable.export_library(library)
    metadata = variant_metadata(
        model, model_name, device_kind, {"tvm_version": tvm.__version__, "tuning": summary.as_json()}
    )
    files = {RUNTIME_ENGINES["tvm"].file_key: (VARIANT_LIBRARY, file_sha256(library))}
    if incumbent is not None:
        metadata = replace(metadata, engine=incumbent.engine, engines=incumbent.engines)
        files = {**incumbent.files, **files}
    write_metadata(summary.variant_dir, replace(metadata, files=files).as_json())
