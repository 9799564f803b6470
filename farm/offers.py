"""Re-optimization offers: when the shared tuning database has learned faster schedules for a model's layers (another
model tuned them, or a newer compiler), its owner is offered a faster variant without re-tuning.

`check_offers` looks at each model's best variant per kind that runs TVM code. The variant
records, per workload, its weight and the microseconds of the record it was compiled with
(`SessionSummary.workloads`). The estimate replaces each by the database's best record now:

    estimated = measured TVM latency × Σ weight·min(now, then) / Σ weight·then

Nothing is measured. An offer is made when the estimate beats the variant's own latency (of
the engine it runs) by more than `threshold` (10 %), naming the workloads that improved and
the model whose tuning found each. Accepting it runs a workflow with 0 trials, which compiles
from the records and benchmarks on the device; `settle` then keeps the new variant only if it
is faster than the old one, relative to ONNX Runtime timed in each run (so a machine that
runs faster or slower today does not decide), and closes the offer either way with both
figures.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from farm.engines.comparison import TUNED_LATENCY
from farm.registry import catalog, offers
from farm.registry.database import Registry
from farm.registry.schema import Model, Offer, User, Variant
from farm.schemas import OfferOut
from tuning_db.database import TuningDatabase

THRESHOLD = 0.10
IMPROVED_BY = 0.01  # a workload counts as improved when its best record is this much faster


def estimate(variant: Variant, best_us: Callable[[str], tuple[float, str] | None]) -> tuple[float, list[dict]] | None:
    """The variant's estimated latency of its tuned library (ms) with today's best records, and the workloads that
    improved; None when it records no workloads or no such latency. `best_us(key)` gives the best record's µs and the
    model that found it."""
    metrics = variant.metrics or {}
    workloads, tuned_ms = metrics.get("workloads") or {}, metrics.get(TUNED_LATENCY)
    if not workloads or not isinstance(tuned_ms, (int, float)):
        return None
    then = now = 0.0
    improved = []
    for key, w in workloads.items():
        best = best_us(key)
        new_us = min(w["us"], best[0]) if best else w["us"]
        then += w["weight"] * w["us"]
        now += w["weight"] * new_us
        if best and best[0] < w["us"] * (1 - IMPROVED_BY):
            improved.append(
                {"task": w["task"], "workload_key": key, "old_us": w["us"], "new_us": best[0], "from_model": best[1]}
            )
    if then <= 0:
        return None
    return tuned_ms * now / then, sorted(improved, key=lambda i: i["new_us"] - i["old_us"])


def check_offers(registry: Registry, db_uri: str, threshold: float = THRESHOLD) -> list[Offer]:
    """Make an offer for every model's best variant of a kind that today's records would make faster than `threshold`;
    the offers made."""
    db, views = TuningDatabase(db_uri), {}

    def best_us(target_key: str) -> Callable[[str], tuple[float, str] | None]:
        if target_key not in views:
            views[target_key] = db.view(target_key)
        view = views[target_key]

        def best(key: str) -> tuple[float, str] | None:
            rows = view.top_k(key, 1)
            return (rows[0].mean_secs * 1e6, rows[0].model) if rows and rows[0].mean_secs is not None else None

        return best

    made = []
    with registry.session() as s:
        model_ids = list(s.scalars(select(Model.id)))
    for model_id in model_ids:
        with registry.session() as s:
            for variant in catalog.best_variants(catalog.list_variants(s, model_id)).values():
                if not variant.target_key:
                    continue
                found = estimate(variant, best_us(variant.target_key))
                current = variant.metrics.get("best_latency_ms")
                if found is None or found[0] >= current * (1 - threshold):
                    continue
                if offers.suppressed(s, variant.id, found[0], threshold):
                    continue
                made.append(
                    offers.create_offer(
                        s, variant, old_latency_ms=current, estimated_latency_ms=found[0], improved=found[1]
                    )
                )
    return made


def settle(old: dict, new: dict) -> tuple[bool, dict]:
    """Whether the variant an offer produced (`new` metrics) beats the one it was made for (`old`), each relative to
    ONNX Runtime's default session timed in its own run; the figures, as the offer keeps them."""
    figures = {
        "old_latency_ms": old.get("best_latency_ms"),
        "old_ort_latency_ms": old.get("ort_latency_ms"),
        "new_latency_ms": new.get("best_latency_ms"),
        "new_ort_latency_ms": new.get("ort_latency_ms"),
    }
    if any(not isinstance(v, (int, float)) or v <= 0 for v in figures.values()):
        return False, {**figures, "reason": "the benchmark did not time both engines"}
    old_ratio = figures["old_latency_ms"] / figures["old_ort_latency_ms"]
    new_ratio = figures["new_latency_ms"] / figures["new_ort_latency_ms"]
    confirmed = bool(new.get("agrees")) and new_ratio < old_ratio
    figures.update(old_vs_ort=old_ratio, new_vs_ort=new_ratio)
    if not confirmed:
        figures["reason"] = "not confirmed on the device: the new variant is not faster relative to ONNX Runtime"
    return confirmed, figures


def offer_as_seen_by(s: Session, user: User, offer: Offer) -> OfferOut:
    """The offer as `user` may read it (API, dashboard, webhook): another tenant's model is not named
    (`farm.registry.offers.improved_as_seen_by`)."""
    return OfferOut.model_validate(offer).model_copy(update={"improved": offers.improved_as_seen_by(s, user, offer)})
