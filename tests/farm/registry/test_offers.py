"""Re-optimization offers over a real registry and a real tuning database: the estimate, when an offer is made and when
it is not repeated, its states, and how an accepted offer is settled or closed with its workflow.

The cluster test (`tests/farm/test_workflows.py`) accepts one and lets a real workflow settle it.
"""

from __future__ import annotations

import pytest

from farm.offers import check_offers, estimate, settle
from farm.registry import catalog, offers, workflow_records
from farm.registry.accounts import update_user
from farm.registry.errors import Conflict
from farm.workflows.notify import WebhookPolicy
from farm.workflows.service import WorkflowService
from tests.farm.receivers import Receiver
from tests.tuning_db.workloads import SMALL_TARGET, commit_record, matmul
from tuning_db import TuningDatabase
from tuning_db.metaschedule import ParquetDatabase


@pytest.fixture
def db(tmp_path):
    """A tuning database with one workload (a 64×64 matmul) whose best record, found tuning "sibling", takes 40 µs."""
    uri = str(tmp_path / "tuning-db")
    writer = ParquetDatabase(uri, SMALL_TARGET, model="sibling")
    commit_record(writer, matmul(64), [40e-6], factor=4)
    writer.close()
    tuning = TuningDatabase(uri)
    (target_key,) = tuning.stats()["targets"]
    (key,) = tuning.view(target_key).workload_keys()
    return {"uri": uri, "target_key": target_key, "key": key}


def tuned_variant(registry, model_id, db, *, key_us: float, best_ms: float = 1.0, tvm_ms: float = 1.0):
    """A variant compiled when the database's workload took `key_us` (weight 2), beside a workload it does not hold."""
    with registry.session() as s:
        original = catalog.list_variants(s, model_id)[0]
        workloads = {
            db["key"]: {"task": "fused_matmul", "weight": 2.0, "us": key_us},
            "f" * 64: {"task": "softmax", "weight": 1.0, "us": 50.0},
        }
        metrics = {"engine": "tvm", "best_latency_ms": best_ms, "tvm_latency_ms": tvm_ms, "agrees": True}
        return catalog.add_variant(
            s,
            model_id,
            kind="x86-64",
            artifact_key=original.artifact_key,
            artifact_name="net-x86-64.tar.gz",
            size_bytes=original.size_bytes,
            target_key=db["target_key"],
            parent_id=original.id,
            metrics=metrics | {"workloads": workloads},
        ).id


@pytest.fixture
def model_id(registry, onnx_file, user_id) -> str:
    with registry.session() as s:
        return catalog.upload_model(s, registry.artifacts, onnx_file, name="net", created_by=user_id).id


def test_newer_records_of_a_variants_workloads_make_one_offer_naming_them(registry, model_id, db):
    variant_id = tuned_variant(registry, model_id, db, key_us=100.0)
    (offer,) = check_offers(registry, db["uri"])
    expected = 1.0 * (2 * 40 + 50) / (2 * 100 + 50)  # the measured latency scaled by the weighted task times
    assert offer.variant_id == variant_id and offer.kind == "x86-64" and offer.state == "open"
    assert offer.old_latency_ms == 1.0 and offer.estimated_latency_ms == pytest.approx(expected)
    assert offer.improved == [
        {
            "task": "fused_matmul",
            "workload_key": db["key"],
            "old_us": 100.0,
            "new_us": pytest.approx(40.0),
            "from_model": "sibling",
        }
    ]
    assert check_offers(registry, db["uri"]) == [], "a variant has one open offer at a time"
    with registry.session() as s:
        assert [o.id for o in offers.list_offers(s, model_id=model_id)] == [offer.id]
        offers.dismiss_offer(s, offer.id)
        with pytest.raises(Conflict, match="is dismissed"):
            offers.accept_offer(s, offer.id, "w")
    assert check_offers(registry, db["uri"]) == [], "a dismissed offer is not made again for the same estimate"
    writer = ParquetDatabase(db["uri"], SMALL_TARGET, model="third")
    commit_record(writer, matmul(64), [5e-6], factor=8)  # much faster again
    writer.close()
    (again,) = check_offers(registry, db["uri"])
    assert again.estimated_latency_ms < offer.estimated_latency_ms * 0.9 and again.improved[0]["from_model"] == "third"


def test_no_offer_without_a_gain_past_the_threshold_or_over_the_engine_that_runs(registry, model_id, db, onnx_file):
    tuned_variant(registry, model_id, db, key_us=42.0)  # 40 µs now: 2.4 % faster, under the 10 % threshold
    assert check_offers(registry, db["uri"]) == []
    assert len(check_offers(registry, db["uri"], threshold=0.01)) == 1
    with registry.session() as s:
        other = catalog.upload_model(s, registry.artifacts, onnx_file, name="other").id
    tuned_variant(registry, other, db, key_us=100.0, best_ms=0.4, tvm_ms=1.0)  # ONNX Runtime runs it at 0.4 ms
    assert check_offers(registry, db["uri"]) == [], "0.52 ms of TVM does not beat the 0.4 ms it runs at"


def test_an_estimate_needs_the_variants_workloads_and_its_tvm_latency(registry, model_id, db):
    variant_id = tuned_variant(registry, model_id, db, key_us=100.0)
    with registry.session() as s:
        variant = catalog.get_variant(s, variant_id)
        assert estimate(variant, lambda key: None) == (pytest.approx(1.0), [])
        variant.metrics = {k: v for k, v in variant.metrics.items() if k != "workloads"}
        assert estimate(variant, lambda key: (1.0, "m")) is None


def test_settling_compares_each_variant_with_onnx_runtime_timed_in_its_own_run():
    old = {"best_latency_ms": 2.0, "ort_latency_ms": 4.0}
    assert settle(old, {"best_latency_ms": 1.8, "ort_latency_ms": 4.0, "agrees": True})[0]
    slower_machine = {"best_latency_ms": 2.2, "ort_latency_ms": 5.0, "agrees": True}  # 0.44 of ONNX Runtime, was 0.5
    confirmed, figures = settle(old, slower_machine)
    assert confirmed and figures["new_vs_ort"] == pytest.approx(0.44)
    confirmed, figures = settle(old, {"best_latency_ms": 1.9, "ort_latency_ms": 3.0, "agrees": True})
    assert not confirmed and "not confirmed on the device" in figures["reason"] and figures["new_latency_ms"] == 1.9
    assert not settle(old, {"best_latency_ms": 1.0, "ort_latency_ms": 4.0, "agrees": False})[0]
    assert not settle(old, {"best_latency_ms": 1.0})[0]


@pytest.mark.parametrize("end", ["fail", "cancel"])
def test_an_accepted_offer_whose_workflow_ends_without_a_verdict_is_closed(registry, model_id, db, user_id, end):
    tuned_variant(registry, model_id, db, key_us=100.0)
    (offer,) = check_offers(registry, db["uri"])
    with registry.session() as s:
        workflow = workflow_records.create_workflow(
            s, model_id, targets=["x86-64"], options={"trials": 0, "offer_id": offer.id}, created_by=user_id
        )
        assert workflow.options["trials"] == 0
        offers.accept_offer(s, offer.id, workflow.id)
        if end == "fail":
            workflow_records.fail_workflow(s, workflow.id, "boom")
        else:
            workflow_records.cancel_workflow(s, workflow.id)
    with registry.session() as s:
        closed = offers.get_offer(s, offer.id)
        assert closed.state == "not_confirmed" and closed.closed_at is not None
        assert closed.result["reason"] in ("its workflow failed: boom", "its workflow was cancelled")
        with pytest.raises(Conflict):
            offers.close_offer(s, offer.id, confirmed=True, result={})
    assert check_offers(registry, db["uri"]) == [], "not offered again for the same estimate"


def test_the_server_sends_each_new_offer_to_the_uploaders_webhook_once(registry, model_id, db, user_id):
    receiver = Receiver()
    with registry.session() as s:
        update_user(s, user_id, webhook_url=receiver.url)
    tuned_variant(registry, model_id, db, key_us=100.0)
    service = WorkflowService(registry, db_uri=db["uri"], webhooks=WebhookPolicy(allow_private=True))
    try:
        (offer_id,) = service.check_offers()
        (delivered,) = receiver.wait(1)
        assert delivered["event"] == "offer" and delivered["offer"]["id"] == offer_id
        assert delivered["offer"]["improved"][0]["from_model"] is None, "no model the uploader may see is 'sibling'"
        assert service.check_offers() == []
        with registry.session() as s:
            assert offers.get_offer(s, offer_id).notified_at is not None
    finally:
        service.close()
        receiver.close()
    assert len(receiver.received) == 1, "sent once"
