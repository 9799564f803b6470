"""The record stage of a workflow: each verified variant registered, and the offer the workflow checks settled.

Each kind's variant folder becomes a content-addressed artifact and a Variant whose parent
is the input variant, with its metrics (the autotune stage's, the benchmark stage's) and,
when benchmarked, its benchmark record; it becomes a candidate for the package stage. A
workflow that checks an offer (an accepted re-optimization offer) keeps the variant only
if it confirms the offer; otherwise it closes the offer unconfirmed and records nothing.
The stage always runs: the user's stages decide what it records.
"""

from __future__ import annotations

from ..packaging import candidate_from_folder
from ..registry import catalog, offers
from ..registry.database import Registry
from ..runtime.container import read_metadata
from .stage import Stage, WorkflowRun
from .stopping import hold_running


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


class RecordStage(Stage):
    def run(self, run: WorkflowRun) -> None:
        registry, offer_id = run.registry, run.options.offer_id
        for kind, result in run.results.items():
            metrics, report = run.metrics[kind], run.reports.get(kind)
            verdict = None
            if offer_id:
                verdict = _settle_offer(registry, run.workflow_id, offer_id, metrics)
                if not verdict[0]:
                    run.outputs["offer"] = verdict[1]
                    continue
            key = registry.artifacts.put_folder(result.variant_dir)
            with registry.session() as s:
                hold_running(s, run.workflow_id)
                variant = catalog.add_variant(
                    s,
                    run.model_id,
                    kind=kind,
                    artifact_key=key,
                    artifact_name=f"{run.model_name}-{kind}.tar.gz",
                    size_bytes=registry.artifacts.size(key),
                    target=read_metadata(result.variant_dir)["target"],
                    target_key=result.summary.target_key,
                    parent_id=run.source_id,
                    workflow_id=run.workflow_id,
                    metrics=metrics,
                )
                if report is not None:
                    catalog.add_benchmark(s, variant.id, kind=kind, results=report, workflow_id=run.workflow_id)
                if verdict is not None:
                    run.outputs["offer"] = {**verdict[1], "variant_id": variant.id}
                    offers.close_offer(s, offer_id, confirmed=True, result=run.outputs["offer"])
                run.outputs["variants"][kind] = {"variant_id": variant.id, **metrics}
            candidate = candidate_from_folder(result.variant_dir, variant.id)
            if metrics.get("cost_per_million_usd") is not None:
                candidate.metrics["cost_per_million_usd"] = metrics["cost_per_million_usd"]
            run.candidates.append(candidate)
