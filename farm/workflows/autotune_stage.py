"""The autotune stage of a workflow: the input variant tuned for every target kind at once, each kind's engines timed.

The model is imported at the workflow's input shapes (with the model's sample inputs, if it has
any, on which every engine's agreement is measured) and tuned by `farm.tuning.job.TuneJob`,
the same code as `farm tune`, on the shared tuning database; its progress (stage, trials
measured of planned, estimated latency, the task table) is written to the workflow every
few seconds, and once a kind is tuned, where its search's time went and what it reused. A
kind whose chosen engine does not compute what the ONNX model computes fails the workflow;
every candidate measured before stays in the tuning database, so the same workflow run
again continues from there.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_EXCEPTION, wait

from ..precision import Tolerance
from ..registry import workflow_records
from ..tuning.job import KindResult, TuneJob
from .stage import Stage, WorkflowError, WorkflowRun
from .stopping import still_running

PROGRESS_EVERY_S = 5.0
# what a variant's record keeps of its session (besides the comparison's figures and the hybrid's plan)
SESSION_METRICS = (
    "tasks",
    "tasks_tuned",
    "trials_measured",
    "trials_reused",
    "tuning_seconds",
    "compile_seconds",
    "workloads",
)


def _progress(job: TuneJob) -> dict:
    progress = {}
    for kind, p in job.progress().items():
        secs = p.get("estimated_latency_s")
        progress[kind] = {
            "stage": p["stage"],
            "trials": p["trials"],
            "total": p["total"],
            "best_latency_ms": secs * 1e3 if secs else None,
            "best_so_far": p.get("best_so_far"),
            "tasks": p.get("tasks", []),
        }
    return progress


def _session_report(result: KindResult) -> dict:
    """What a kind's finished session shows beside its progress: where the search's time went, and what it reused."""
    summary = result.summary
    pretrain = (summary.cost_model or {}).get("pretrain") or {}
    return {
        "profile": summary.profile or {},
        "reuse": {
            "trials_measured": summary.trials_measured,
            "trials_reused": summary.trials_reused,
            "pretrain_samples": pretrain.get("samples"),
        },
    }


def variant_metrics(result: KindResult) -> dict:
    """What a variant's record keeps of its kind's result: the comparison's figures, the session's, the hybrid's plan."""
    from ..engines.hybrid_engine import PLAN_KEY

    return {
        **result.comparison.figures(),
        **{k: getattr(result.summary, k) for k in SESSION_METRICS},
        PLAN_KEY: result.plan,
    }


class AutotuneStage(Stage):
    def run(self, run: WorkflowRun) -> None:
        from cluster.connect import connect

        from ..models.onnx_import import ModelImportError, prepare
        from ..models.samples import SampleInputsError, load_samples
        from ..tuning.session import TuningPlan

        try:
            onnx_model = prepare(run.onnx_path, run.options.shapes)
        except ModelImportError as e:
            raise WorkflowError(str(e).replace(run.onnx_path, run.model_name)) from None
        try:  # checked against the model's inputs when stored, against the workflow's shapes here
            samples = load_samples(run.samples_path, onnx_model.inputs) if run.samples_path else None
        except SampleInputsError as e:
            raise WorkflowError(str(e).replace(run.samples_path, f"the sample inputs of {run.model_name}")) from None
        with open(run.onnx_path, "rb") as f:
            original = f.read()
        connect()
        job = TuneJob(
            onnx_model,
            original,
            run.model_name,
            run.targets,
            TuningPlan(trials=run.options.trials, trials_per_task=run.options.trials_per_task),
            run.db_uri,
            os.path.join(run.work_dir, "variants"),
            job_id=run.workflow_id[:12],
            verify_warmup=run.options.benchmark.warmup,
            verify_repeat=run.options.benchmark.repeat,
            precision=run.options.precision,
            tolerance=Tolerance.parse(run.options.tolerance),
            samples=samples,
        )
        run.results = self._tune(run, job)
        disagree = [kind for kind, result in run.results.items() if not result.comparison.chosen.agrees]
        if disagree:
            raise WorkflowError(
                f"the tuned variant for {', '.join(disagree)} does not compute what the ONNX model computes"
            )
        run.metrics = {kind: variant_metrics(result) for kind, result in run.results.items()}

    @staticmethod
    def _tune(run: WorkflowRun, job: TuneJob) -> dict[str, KindResult]:
        job.start()
        while wait(job.futures, timeout=PROGRESS_EVERY_S, return_when=FIRST_EXCEPTION).not_done:
            with run.registry.session() as s:
                still_running(workflow_records.update_progress(s, run.workflow_id, _progress(job)))
            if any(f.done() and f.exception() for f in job.futures):
                break
        with run.registry.session() as s:
            still_running(workflow_records.update_progress(s, run.workflow_id, _progress(job)))
        results = job.results()
        with run.registry.session() as s:
            report = {kind: _session_report(result) for kind, result in results.items()}
            still_running(workflow_records.update_progress(s, run.workflow_id, report))
        return results
