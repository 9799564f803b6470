"""One tuning session: an imported model tuned for one device kind on the Ray farm, compiled into a variant folder.

The session extracts the model's tuning tasks for the kind's canonical target, and
skips every task whose workload already has `done_after` measured records in the
shared database for that target (its best records are applied as they are: another
model, or an earlier run of this one, paid for them). The other tasks are tuned with
MetaSchedule's evolutionary search driven by its XGBoost cost model, candidates built
by the Ray builder and measured by the Ray runner on devices of the kind; MetaSchedule
warm-starts each task from the database's best records of its workload. Every
measurement is committed to the database after each batch, so a session whose driver
dies resumes from what was recorded when the same command runs again.

The variant folder (`<out>/<kind>/`) holds the compiled Relax VM library with the
weights bound (`model.so`) and `metadata.json` (inputs, outputs, target, TVM version,
tuning summary), which the runtime and the packager load as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

import tvm
from tvm.s_tir.meta_schedule import relax_integration, tune_tasks
from tvm.s_tir.meta_schedule.relax_integration import extracted_tasks_to_tune_contexts

from cluster.builder import RayBuilder
from cluster.metrics import PublishBestLatency
from cluster.runner import RayRunner
from tuning_db.metaschedule import ParquetDatabase, measure_callbacks
from tuning_db.workload import workload_key

from ..models.onnx_import import OnnxModel

VARIANT_LIBRARY = "model.so"
VARIANT_METADATA = "metadata.json"


@dataclass
class TuningPlan:
    """How much to spend: trials over all tasks, per task, and the record count that makes a task done."""

    trials: int
    trials_per_task: int | None = None
    done_after: int = 64
    trials_per_iter: int = 64

    def __post_init__(self) -> None:
        if self.trials < 0 or (self.trials_per_task is not None and self.trials_per_task <= 0):
            raise ValueError("trial budgets must be positive")

    def per_iteration(self, tasks: int) -> int:
        """Candidates per search round: small enough that every task gets a round within the budget."""
        return max(1, min(self.trials_per_iter, self.trials // max(tasks, 1), self.trials_per_task or self.trials))

    def search_strategy(self):
        """MetaSchedule's evolutionary search, its population scaled down for small per-task budgets.

        The default population (512) costs seconds of mutation per task and round on a
        small machine, wasted when a task may measure only a handful of candidates.
        """
        from tvm.s_tir.meta_schedule.search_strategy import EvolutionarySearch

        per_task = self.trials_per_task or self.trials
        population = max(64, min(512, 16 * per_task))
        return EvolutionarySearch(population_size=population, init_min_unmeasured=min(50, population // 2))


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
    task_latency_us: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        return dict(self.__dict__)


def _named_params(mod: tvm.IRModule, params: dict, num_inputs: int) -> dict:
    names = [p.name for p in mod["main"].params[num_inputs:]]
    return dict(zip(names, params.get("main", [])))


def fused_module(mod: tvm.IRModule, target: tvm.target.Target, params: dict) -> tvm.IRModule:
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


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tune_for_kind(
    model: OnnxModel,
    model_name: str,
    kind: str,
    plan: TuningPlan,
    db_uri: str,
    out_dir: str,
    *,
    builder: RayBuilder,
    job_id: str = "",
) -> SessionSummary:
    """Tune `model` for device kind `kind` and write its variant to `<out_dir>/<kind>/`."""
    runner = RayRunner(kind)
    target = tvm.target.Target(runner.device_kind.target)
    mod, params = model.relax
    named = _named_params(mod, params, len(model.inputs))
    tasks = relax_integration.extract_tasks(fused_module(mod, target, named), target)
    keys = [workload_key(t.dispatched[0]) for t in tasks]
    db = ParquetDatabase(db_uri, target, job_id=job_id, model=model_name, provenance=runner.provenance,
                         task_names={k: t.task_name for k, t in zip(keys, tasks)})
    try:
        known = {k: len(db.view.top_k(k, plan.done_after)) for k in keys}
        to_tune = [t for t, k in zip(tasks, keys) if known[k] < plan.done_after]
        before = len(db)
        start = time.perf_counter()
        if to_tune and plan.trials:
            work_dir = os.path.join(out_dir, ".work", kind)
            contexts, weights = extracted_tasks_to_tune_contexts(to_tune, work_dir=work_dir, strategy=plan.search_strategy())
            tune_tasks(
                tasks=contexts,
                task_weights=weights,
                work_dir=work_dir,
                max_trials_global=plan.trials,
                max_trials_per_task=plan.trials_per_task,
                num_trials_per_iter=plan.per_iteration(len(to_tune)),
                builder=builder,
                runner=runner,
                database=db,
                cost_model="xgb",
                measure_callbacks=[*measure_callbacks(db), PublishBestLatency(kind)],
            )
        db.flush()
        tuning_s = time.perf_counter() - start
        start = time.perf_counter()
        executable = relax_integration.compile_relax(db, mod, target, named)
        compile_s = time.perf_counter() - start
        latency = {}
        for task, key in zip(tasks, keys):
            best = db.view.top_k(key, 1)
            if best and best[0].mean_secs is not None:
                latency[task.task_name] = best[0].mean_secs * 1e6
        summary = SessionSummary(
            kind=kind,
            target_key=runner.device_kind.target_key,
            variant_dir=os.path.join(out_dir, kind),
            tasks=len(tasks),
            tasks_tuned=len(to_tune),
            trials_measured=len(db) - before,
            trials_reused=sum(known.values()),
            tuning_seconds=tuning_s,
            compile_seconds=compile_s,
            task_latency_us=latency,
        )
        write_variant(executable, model, model_name, runner.device_kind.as_json(), summary)
        return summary
    finally:
        db.close()


def write_variant(executable, model: OnnxModel, model_name: str, device_kind: dict, summary: SessionSummary) -> None:
    """The variant folder: the compiled library, then its metadata (written last, so a folder with metadata is complete)."""
    os.makedirs(summary.variant_dir, exist_ok=True)
    library = os.path.join(summary.variant_dir, VARIANT_LIBRARY)
    executable.export_library(library)
    metadata = {
        "model": model_name,
        "source": model.source,
        "source_sha256": _file_sha256(model.source) if os.path.isfile(model.source) else "",
        "inputs": [i.as_json() for i in model.inputs],
        "outputs": [o.as_json() for o in model.outputs],
        "kind": device_kind["name"],
        "target": device_kind["target"],
        "target_key": device_kind["target_key"],
        "tvm_version": tvm.__version__,
        "library": VARIANT_LIBRARY,
        "library_sha256": _file_sha256(library),
        "tuning": summary.as_json(),
    }
    tmp = os.path.join(summary.variant_dir, VARIANT_METADATA + ".tmp")
    with open(tmp, "w") as f:
        json.dump(metadata, f, indent=2)
    os.replace(tmp, os.path.join(summary.variant_dir, VARIANT_METADATA))
