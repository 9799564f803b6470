"""Workflow records: creation checks, listing, and the state machine pending → running → completed | failed | cancelled."""

from __future__ import annotations

import threading

import pytest

from farm.registry.accounts import update_user
from farm.registry.catalog import (
    add_benchmark,
    add_variant,
    delete_model,
    list_benchmarks,
    list_variants,
    upload_model,
)
from farm.registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from farm.registry.workflow_records import (
    cancel_workflow,
    complete_workflow,
    create_workflow,
    fail_workflow,
    get_workflow,
    list_workflows,
    lock_running,
    progress_history,
    start_workflow,
    update_progress,
)


@pytest.fixture
def model_id(registry, onnx_file) -> str:
    with registry.session() as s:
        return upload_model(s, registry.artifacts, onnx_file, name="net").id


def new_workflow(registry, model_id, user_id, **kw):
    with registry.session() as s:
        return create_workflow(
            s,
            model_id,
            targets=kw.pop("targets", ["x86-64", "x86-64-v3"]),
            options=kw.pop("options", {"trials": 16}),
            created_by=user_id,
            **kw,
        )


def test_a_new_workflow_is_pending_on_the_original_variant_with_checked_options(registry, model_id, user_id):
    workflow = new_workflow(
        registry,
        model_id,
        user_id,
        targets=["x86-64", " x86-64 ", "znver4"],
        options={"trials": 16, "input_shapes": {"x": (1, 4)}, "stages": {"package": False}},
        webhook_url="http://hooks.local/wf",
    )
    with registry.session() as s:
        workflow = get_workflow(s, workflow.id)
        (original,) = list_variants(s, model_id)
    assert (workflow.state, workflow.input_variant_id, workflow.targets) == (
        "pending",
        original.id,
        ["x86-64", "znver4"],
    )
    assert workflow.options == {  # every default filled in by the one schema
        "trials": 16,
        "trials_per_task": None,
        "input_shapes": {"x": [1, 4]},
        "stages": {"autotune": True, "benchmark": True, "package": False},
        "benchmark": {"warmup": 5, "repeat": 50, "batch_sizes": [], "sla_ms": None},
        "precision": "exact",
        "tolerance": None,
        "priorities": None,
        "offer_id": None,
    }
    assert workflow.progress["znver4"] == {"stage": "pending", "trials": 0, "total": None, "best_latency_ms": None}
    assert (workflow.webhook_url, workflow.started_at, workflow.finished_at, workflow.outputs) == (
        "http://hooks.local/wf",
        None,
        None,
        {},
    )
    assert workflow.created_at.tzinfo is not None


@pytest.mark.parametrize(
    "targets,options,message",
    [
        ([], {}, "at least one target"),
        ("x86-64", {}, "list of device kind names"),
        (["x86-64", ""], {}, "list of device kind names"),
        (["x86-64"], {"trials": -1}, "trials: Input should be greater than or equal to 0"),
        (["x86-64"], {"trials": False}, "trials: must be a number"),
        (["x86-64"], {"trials_per_task": True}, "trials_per_task: must be a number"),
        (["x86-64"], {"input_shapes": {"x": [1, -4]}}, "input_shapes.x.1: Input should be greater than 0"),
        (["x86-64"], {"stages": {"deploy": True}}, "stages.deploy: Extra inputs are not permitted"),
        (["x86-64"], {"stages": {"autotune": False, "benchmark": True}}, "the autotune stage cannot be turned off"),
        (["x86-64"], [], "options: Input should be a valid dictionary"),
    ],
)
def test_bad_targets_and_options_are_refused(registry, model_id, user_id, targets, options, message):
    with pytest.raises(InvalidInput, match=message):
        new_workflow(registry, model_id, user_id, targets=targets, options=options)


def test_the_input_variant_must_belong_to_the_model(registry, model_id, user_id, onnx_file):
    with registry.session() as s:
        other = upload_model(s, registry.artifacts, onnx_file, name="other")
        (foreign,) = list_variants(s, other.id)
        (original,) = list_variants(s, model_id)
        tuned = add_variant(
            s,
            model_id,
            kind="x86-64",
            artifact_key="d" * 64,
            artifact_name="net-x86-64.tar.gz",
            size_bytes=1,
            parent_id=original.id,
        )
    with pytest.raises(InvalidInput, match="is not a variant of model 'net'"):
        new_workflow(registry, model_id, user_id, input_variant_id=foreign.id)
    assert new_workflow(registry, model_id, user_id, input_variant_id=tuned.id).input_variant_id == tuned.id
    with pytest.raises(NotFound, match="user ghost not found"):
        new_workflow(registry, model_id, "ghost")
    with pytest.raises(NotFound, match="model missing not found"):
        new_workflow(registry, "missing", user_id)


def test_a_run_goes_pending_running_completed_and_then_never_changes(registry, model_id, user_id):
    workflow_id = new_workflow(registry, model_id, user_id).id
    with registry.session() as s:
        with pytest.raises(Conflict, match="is pending; it must start before it can complete"):
            complete_workflow(s, workflow_id, {})
        workflow = start_workflow(s, workflow_id, "farm-workflow-actor-1")
        assert (workflow.state, workflow.driver) == (
            "running",
            "farm-workflow-actor-1",
        ) and workflow.started_at is not None
        with pytest.raises(Conflict, match="is running; only a pending workflow can start"):
            start_workflow(s, workflow_id, "another")
        update_progress(s, workflow_id, {"x86-64": {"stage": "autotune", "trials": 4, "total": 16}})
        update_progress(s, workflow_id, {"x86-64": {"trials": 8, "best_latency_ms": 0.25}})
        assert get_workflow(s, workflow_id).progress["x86-64"] == {
            "stage": "autotune",
            "trials": 8,
            "total": 16,
            "best_latency_ms": 0.25,
        }
        assert get_workflow(s, workflow_id).progress["x86-64-v3"]["stage"] == "pending"
    with registry.session() as s:
        workflow = complete_workflow(s, workflow_id, {"variants": ["v1"]})
        assert (workflow.state, workflow.outputs) == (
            "completed",
            {"variants": ["v1"]},
        ) and workflow.finished_at >= workflow.started_at
        finished = workflow.finished_at
        assert fail_workflow(s, workflow_id, "late error").state == "completed"
        assert complete_workflow(s, workflow_id, {"other": 1}).outputs == {"variants": ["v1"]}
        update_progress(s, workflow_id, {"x86-64": {"trials": 99}})
        with pytest.raises(Conflict, match="is already completed"):
            cancel_workflow(s, workflow_id)
    with registry.session() as s:
        workflow = get_workflow(s, workflow_id)
        assert (workflow.state, workflow.error, workflow.finished_at, workflow.progress["x86-64"]["trials"]) == (
            "completed",
            None,
            finished,
            8,
        )


def test_each_move_of_a_kinds_progress_is_kept_as_a_point_and_goes_with_its_model(registry, model_id, user_id):
    workflow_id = new_workflow(registry, model_id, user_id).id
    with registry.session() as s:
        start_workflow(s, workflow_id, "driver")
        update_progress(s, workflow_id, {"x86-64": {"stage": "autotune", "trials": 4, "total": 16}})
        update_progress(s, workflow_id, {"x86-64": {"stage": "autotune", "trials": 4}})  # nothing moved
        update_progress(s, workflow_id, {"x86-64": {"trials": 8, "best_latency_ms": 0.5}})
        update_progress(s, workflow_id, {"x86-64": {"best_latency_ms": 0.25}, "x86-64-v3": {"trials": 2}})
        update_progress(s, workflow_id, {"x86-64": {"trials": 2**40}, "x86-64-v3": {"trials": "3"}})  # not counts
        assert progress_history(s, workflow_id) == {
            "x86-64": [(4, None), (8, 0.5), (8, 0.25)],
            "x86-64-v3": [(2, None)],
        }
        complete_workflow(s, workflow_id, {})
        update_progress(s, workflow_id, {"x86-64": {"trials": 9}})
        assert progress_history(s, workflow_id)["x86-64"][-1] == (8, 0.25)
    with registry.session() as s:
        delete_model(s, model_id)
        assert progress_history(s, workflow_id) == {}


def test_failures_and_cancellations_are_terminal(registry, model_id, user_id):
    failed, cancelled, cancelled_running = (new_workflow(registry, model_id, user_id).id for _ in range(3))
    with registry.session() as s:
        assert fail_workflow(s, failed, "import failed: opset 99").state == "failed"
        assert (
            get_workflow(s, failed).error == "import failed: opset 99"
            and get_workflow(s, failed).finished_at is not None
        )
        with pytest.raises(Conflict, match="is failed; only a pending workflow can start"):
            start_workflow(s, failed, "driver")
        assert cancel_workflow(s, cancelled).state == "cancelled"
        start_workflow(s, cancelled_running, "driver")
        assert cancel_workflow(s, cancelled_running).finished_at is not None
        assert complete_workflow(s, cancelled_running, {"late": True}).state == "cancelled"
        assert fail_workflow(s, cancelled_running, "stopped").error is None
        with pytest.raises(Conflict, match="is already cancelled"):
            cancel_workflow(s, cancelled)


def test_workflows_are_listed_newest_first_and_filtered(registry, model_id, user_id, onnx_file):
    with registry.session() as s:
        other = upload_model(s, registry.artifacts, onnx_file, name="other").id
    ids = [new_workflow(registry, model_id, user_id).id for _ in range(3)]
    other_id = new_workflow(registry, other, user_id).id
    with registry.session() as s:
        start_workflow(s, ids[1], "driver")
        everything, total = list_workflows(s)
        assert ([w.id for w in everything], total) == ([other_id, *reversed(ids)], 4)
        assert [w.id for w in list_workflows(s, model_id=model_id, state="pending")[0]] == [ids[2], ids[0]]
        assert list_workflows(s, model_id=model_id, offset=1, limit=1) == ([get_workflow(s, ids[1])], 3)
        with pytest.raises(InvalidInput, match="unknown workflow state 'done'"):
            list_workflows(s, state="done")


def test_a_workflow_without_a_webhook_notifies_its_creators(registry, model_id, user_id):
    assert new_workflow(registry, model_id, user_id).webhook_url is None
    with registry.session() as s:
        update_user(s, user_id, webhook_url="https://hooks.example.com/mine")
    assert new_workflow(registry, model_id, user_id).webhook_url == "https://hooks.example.com/mine"
    assert (
        new_workflow(registry, model_id, user_id, webhook_url="https://hooks.example.com/this-one").webhook_url
        == "https://hooks.example.com/this-one"
    )


def test_a_pending_workflow_of_a_deactivated_user_does_not_start(registry, model_id, user_id):
    """Issue 12 item 9: deactivating a user stops what they queued from spending cluster time."""
    workflow = new_workflow(registry, model_id, user_id)
    with registry.session() as s:
        update_user(s, user_id, is_active=False)
        with pytest.raises(PermissionDenied, match="deactivated"):
            start_workflow(s, workflow.id, driver="workflow-x")
    with registry.session() as s:
        assert get_workflow(s, workflow.id).state == "pending"


def _race(*calls):
    """Run each call in its own thread, released together; what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 - the race's loser raises, and the test reads which one did
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_cancel_racing_a_drivers_last_records_never_leaves_a_cancelled_workflow_with_variants(
    registry, model_id, user_id
):
    with registry.session() as s:
        original = list_variants(s, model_id)[0]
    outcomes = set()
    for _ in range(50):
        workflow_id = new_workflow(registry, model_id, user_id, targets=["x86-64"]).id
        with registry.session() as s:
            start_workflow(s, workflow_id, "driver")

        def finish(workflow_id: str = workflow_id) -> str:  # as a driver does: results under the lock, then completion
            with registry.session() as s:
                lock_running(s, workflow_id)
                variant = add_variant(
                    s,
                    model_id,
                    kind="x86-64",
                    artifact_key=original.artifact_key,
                    artifact_name="net-x86-64.tar.gz",
                    size_bytes=original.size_bytes,
                    workflow_id=workflow_id,
                )
                add_benchmark(s, variant.id, kind="x86-64", results={"ms": 1}, workflow_id=workflow_id)
            with registry.session() as s:
                return complete_workflow(s, workflow_id, {"variant": variant.id}).state

        def cancel(workflow_id: str = workflow_id) -> str:
            with registry.session() as s:
                return cancel_workflow(s, workflow_id).state

        driver, canceller = _race(finish, cancel)
        with registry.session() as s:
            state = get_workflow(s, workflow_id).state
            variants = [v for v in list_variants(s, model_id) if v.workflow_id == workflow_id]
            benchmarks = list_benchmarks(s, workflow_id=workflow_id)
        # exactly one of them won, and what the state says is what is recorded
        if state == "cancelled":
            assert canceller == "cancelled" and variants == [] and benchmarks == []
            assert driver == "cancelled" or (isinstance(driver, Conflict) and "is cancelled" in str(driver))
        else:
            assert state == driver == "completed" and len(variants) == 1 and len(benchmarks) == 1
            assert isinstance(canceller, Conflict) and "already completed" in str(canceller)
        outcomes.add(state)
    assert outcomes <= {"cancelled", "completed"}


def test_two_dispatchers_starting_one_workflow_at_once_start_it_once(registry, model_id, user_id):
    for _ in range(20):
        workflow_id = new_workflow(registry, model_id, user_id, targets=["x86-64"]).id

        def start(driver: str, workflow_id: str = workflow_id):
            def run() -> str:
                with registry.session() as s:
                    return start_workflow(s, workflow_id, driver).driver

            return run

        results = _race(start("a"), start("b"))
        (winner,) = [r for r in results if isinstance(r, str)]
        (loser,) = [r for r in results if isinstance(r, Conflict)]
        assert "is running; only a pending workflow can start" in str(loser)
        with registry.session() as s:
            assert get_workflow(s, workflow_id).driver == winner
