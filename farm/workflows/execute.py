"""Running one workflow: its stages on the Ray cluster, every outcome recorded in the registry.

`execute_workflow` is the body of a workflow's driver, whether that is the detached Ray
actor the API's `WorkflowService` starts or a `ray job submit … -- farm workflow run ID`
job. It expects the workflow `running` and leaves it `completed` or `failed`:

- **autotune**: the input variant's ONNX file is fetched from the artifact store and
  tuned for every target kind at once (`farm.tuning.job.TuneJob`, the same code as
  `farm tune`, on the shared tuning database), its progress (stage, trials measured of
  planned, estimated latency) written to the workflow every few seconds;
- **benchmark**: each kind's variant against ONNX Runtime on a node of that kind, same
  random inputs (latency statistics, speed-up, largest output differences, optional
  batch-size sweep and SLA, cost per million inferences at the admin's price for the
  kind, warnings) recorded as the variant's benchmark result
  (`farm.workflows.benchmark_stage`);
- **package**: the variants ranked by the workflow's metric priorities and packaged
  (`farm.workflows.package_stage`): the ranking and the packages go into its outputs.

Each verified variant folder becomes a content-addressed artifact and a Variant whose
parent is the input variant. A variant that does not compute what the ONNX model
computes is not registered and fails the workflow (naming the kinds). Any error fails
the workflow with a readable message; every candidate measured before it stays in the
tuning database, so the same workflow run again continues from there.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, wait

from ..engines.hybrid_engine import PLAN_KEY
from ..engines.timing import FIGURES, benchmark_metrics, chosen
from ..packaging import candidate_from_folder, parse_priorities
from ..registry import accounts, catalog, offers, prices, workflow_records
from ..registry.database import Registry
from ..runtime.container import BENCHMARK as BENCHMARK_FILE
from ..runtime.container import read_metadata
from ..tuning.job import TuneJob
from .benchmark_stage import BenchmarkOptionsError, benchmark_variant
from .notify import DEFAULT_WEBHOOKS, WebhookPolicy, post_webhook
from .package_stage import package_variants
from .stopping import WorkflowStopped, hold_running, still_running

PROGRESS_EVERY_S = 5.0
VARIANT_METRICS = (
    *FIGURES,
    "tasks",
    "tasks_tuned",
    "trials_measured",
    "trials_reused",
    "tuning_seconds",
    "compile_seconds",
    PLAN_KEY,
    "workloads",
)
BENCHMARK_METRICS = (*FIGURES, "cost_per_million_usd", "ort_cost_per_million_usd")
PUBLISHED_SIDE_METRICS = ("tvm_p90_ms",)  # of the comparison's per-side figures, those a variant's metrics keep


class WorkflowError(RuntimeError):
    """A workflow that cannot complete, with the message its record gets."""


def _progress(job: TuneJob) -> dict:
    progress = {}
    for kind, p in job.progress().items():
        secs = p.get("estimated_latency_s")
        progress[kind] = {
            "stage": p["stage"],
            "trials": p["trials"],
            "total": p["total"],
            "best_latency_ms": secs * 1e3 if secs else None,
            "tasks": p.get("tasks", []),
        }
    return progress


def _session_report(summary: dict) -> dict:
    """What a kind's finished session shows beside its progress: where the search's time went, and what it reused."""
    pretrain = (summary.get("cost_model") or {}).get("pretrain") or {}
    return {
        "profile": summary.get("profile") or {},
        "reuse": {
            "trials_measured": summary["trials_measured"],
            "trials_reused": summary["trials_reused"],
            "pretrain_samples": pretrain.get("samples"),
        },
    }


def _tune(registry: Registry, workflow_id: str, job: TuneJob) -> dict[str, dict]:
    job.start()
    while wait(job.futures, timeout=PROGRESS_EVERY_S, return_when=FIRST_EXCEPTION).not_done:
        with registry.session() as s:
            still_running(workflow_records.update_progress(s, workflow_id, _progress(job)))
        if any(f.done() and f.exception() for f in job.futures):
            break
    with registry.session() as s:
        still_running(workflow_records.update_progress(s, workflow_id, _progress(job)))
    results = job.results()
    with registry.session() as s:
        report = {kind: _session_report(summary) for kind, summary in results.items()}
        still_running(workflow_records.update_progress(s, workflow_id, report))
    return results


def _run_stages(registry: Registry, workflow_id: str, db_uri: str, work_dir: str) -> dict:
    from cluster.connect import connect

    from ..models.onnx_import import ModelImportError, prepare
    from ..tuning.session import TuningPlan

    with registry.session() as s:
        workflow = workflow_records.get_workflow(s, workflow_id)
        still_running(workflow)
        model = catalog.get_model(s, workflow.model_id)
        source = catalog.get_variant(s, workflow.input_variant_id)
        targets, name = list(workflow.targets), model.name
        model_id, source_id, source_key = model.id, source.id, source.artifact_key
        try:
            options = workflow_records.options_of(workflow)
        except ValueError as e:
            raise WorkflowError(f"invalid workflow options: {e}") from None
    bench_options = options.benchmark
    try:
        priorities = parse_priorities(",".join(options.priorities)) if options.priorities else None
    except ValueError as e:
        raise WorkflowError(str(e)) from None
    onnx_path = os.path.join(work_dir, "model.onnx")
    registry.artifacts.get_file(source_key, onnx_path)
    shapes = options.shapes
    try:
        onnx_model = prepare(onnx_path, shapes)
    except ModelImportError as e:
        raise WorkflowError(str(e).replace(onnx_path, name)) from None
    with open(onnx_path, "rb") as f:
        original = f.read()
    connect()
    plan = TuningPlan(trials=options.trials, trials_per_task=options.trials_per_task)
    job = TuneJob(
        onnx_model,
        original,
        name,
        targets,
        plan,
        db_uri,
        os.path.join(work_dir, "variants"),
        job_id=workflow_id[:12],
        verify_warmup=bench_options.warmup,
        verify_repeat=bench_options.repeat,
    )
    results = _tune(registry, workflow_id, job)
    disagree = [kind for kind, summary in results.items() if not summary["agrees"]]
    if disagree:
        raise WorkflowError(
            f"the tuned variant for {', '.join(disagree)} does not compute what the ONNX model computes"
        )
    outputs, candidates = {"variants": {}}, []
    for kind, summary in results.items():
        variant_dir = summary["variant_dir"]
        metadata = read_metadata(variant_dir)
        metrics = {k: summary[k] for k in VARIANT_METRICS}
        report = None
        if options.stages.benchmark:
            _stage(registry, workflow_id, kind, "benchmarking")
            with registry.session() as s:
                price = prices.price_of(s, kind)
            with open(os.path.join(variant_dir, BENCHMARK_FILE)) as f:
                check = json.load(f)
            try:
                report = benchmark_variant(kind, check, metadata, onnx_path, shapes, db_uri, bench_options, price)
            except BenchmarkOptionsError as e:
                raise WorkflowError(str(e)) from None
            with open(os.path.join(variant_dir, BENCHMARK_FILE), "w") as f:
                json.dump(report, f, indent=2)
            metrics.update({k: report[k] for k in BENCHMARK_METRICS if report.get(k) is not None})
            stats = chosen(report)["stats"]
            metrics.update(
                {k: v for k, v in benchmark_metrics(report).items() if k in PUBLISHED_SIDE_METRICS},
                best_p90_ms=stats["p90_ms"],
                throughput_per_s=stats["throughput_per_s"],
            )
        verdict = None
        if options.offer_id:
            verdict = _settle_offer(registry, workflow_id, options.offer_id, metrics)
            if not verdict[0]:
                outputs["offer"] = verdict[1]
                continue
        key = registry.artifacts.put_folder(variant_dir)
        with registry.session() as s:
            hold_running(s, workflow_id)
            variant = catalog.add_variant(
                s,
                model_id,
                kind=kind,
                artifact_key=key,
                artifact_name=f"{name}-{kind}.tar.gz",
                size_bytes=registry.artifacts.size(key),
                target=metadata["target"],
                target_key=summary["target_key"],
                parent_id=source_id,
                workflow_id=workflow_id,
                metrics=metrics,
            )
            if report is not None:
                catalog.add_benchmark(s, variant.id, kind=kind, results=report, workflow_id=workflow_id)
            if verdict is not None:
                outputs["offer"] = {**verdict[1], "variant_id": variant.id}
                offers.close_offer(s, options.offer_id, confirmed=True, result=outputs["offer"])
            outputs["variants"][kind] = {"variant_id": variant.id, **metrics}
        candidate = candidate_from_folder(variant_dir, variant.id)
        if metrics.get("cost_per_million_usd") is not None:
            candidate.metrics["cost_per_million_usd"] = metrics["cost_per_million_usd"]
        candidates.append(candidate)
    if options.stages.package:
        for kind in targets:
            _stage(registry, workflow_id, kind, "packaging")
        outputs.update(
            package_variants(registry, workflow_id, candidates, priorities, os.path.join(work_dir, "packages"))
        )
    for kind in targets:
        _stage(registry, workflow_id, kind, "done")
    return outputs


def _settle_offer(registry: Registry, workflow_id: str, offer_id: str, metrics: dict) -> tuple[bool, dict]:
    """Whether the variant measured (`metrics`) confirms the offer the workflow checks; an unconfirmed offer is closed."""
    from ..offers import settle

    with registry.session() as s:
        old = catalog.get_variant(s, offers.get_offer(s, offer_id).variant_id).metrics
    confirmed, figures = settle(old, metrics)
    if not confirmed:
        with registry.session() as s:
            hold_running(s, workflow_id)
            offers.close_offer(s, offer_id, confirmed=False, result=figures)
    return confirmed, figures


def _stage(registry: Registry, workflow_id: str, kind: str, stage: str) -> None:
    """Show `kind` at `stage` in the workflow's progress (a stopped workflow stops its driver here)."""
    with registry.session() as s:
        progress = dict(workflow_records.get_workflow(s, workflow_id).progress or {})
        progress[kind] = {**progress.get(kind, {}), "stage": stage}
        still_running(workflow_records.update_progress(s, workflow_id, progress))


def execute_workflow(
    registry: Registry, workflow_id: str, *, db_uri: str, work_root: str, webhooks: WebhookPolicy = DEFAULT_WEBHOOKS
) -> str:
    """Run a `running` workflow to its end, then deliver its webhook under `webhooks`; its final state. Never raises for the workflow's own errors.

    The driver checks the workflow's state at every progress update and before it
    records a variant: once it is no longer `running` (cancelled, or failed by the
    server), the driver stops there and records nothing more.
    """
    work_dir = os.path.join(work_root, workflow_id)
    os.makedirs(work_dir, exist_ok=True)
    try:
        outputs = _run_stages(registry, workflow_id, db_uri, work_dir)
        with registry.session() as s:
            workflow_records.complete_workflow(s, workflow_id, outputs)
    except WorkflowStopped:
        pass
    except BaseException as e:  # every error ends the workflow failed, with its message; an interrupt too, then goes on
        message = str(e) if isinstance(e, WorkflowError) else f"{type(e).__name__}: {e}"
        with registry.session() as s:
            workflow_records.fail_workflow(s, workflow_id, message)
        if not isinstance(e, Exception):
            raise
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return notify(registry, workflow_id, lambda url, payload, secret: post_webhook(url, payload, secret, webhooks))


def notify(registry: Registry, workflow_id: str, send: Callable[[str, dict, str | None], object]) -> str:
    """Hand the finished workflow to `send` (URL, payload, its creator's signing secret) if it has a webhook; its state."""
    from ..schemas import WorkflowOut

    with registry.session() as s:
        workflow = workflow_records.get_workflow(s, workflow_id)
        url = workflow.webhook_url
        payload = WorkflowOut.model_validate(workflow).model_dump(mode="json")
        state = workflow.state
        secret = accounts.get_user(s, workflow.created_by).webhook_secret if url else None
    if url:
        send(url, payload, secret)
    return state
