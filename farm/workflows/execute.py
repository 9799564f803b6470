"""Running one workflow: its stages on the Ray cluster, every outcome recorded in the registry.

`execute_workflow` is the body of a workflow's driver, whether that is the detached Ray
actor the API's `WorkflowService` starts or a `ray job submit … -- farm workflow run ID`
job. It expects the workflow `running` and leaves it `completed` or `failed`: it loads the
workflow's records into a `farm.workflows.stage.WorkflowRun` (its options validated, its
ranking parsed, the input variant's ONNX file fetched), then runs the stages the user
chose in the order of the stage table (`farm.stages`): autotune, benchmark, record,
package, each one module. Any error fails the workflow with a readable message; every
candidate measured before it stays in the tuning database, so the same workflow run
again continues from there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from ..packaging import parse_priorities
from ..registry import accounts, catalog, workflow_records
from ..registry.database import Registry
from ..stages import stages_to_run
from .notify import DEFAULT_WEBHOOKS, WebhookPolicy, post_webhook
from .stage import WorkflowError, WorkflowRun
from .stopping import WorkflowStopped, still_running


def _load(registry: Registry, workflow_id: str, db_uri: str, work_dir: str) -> WorkflowRun:
    """The workflow's records as a `WorkflowRun`: options validated, ranking parsed, the input model (and the model's
    sample inputs) fetched."""
    with registry.session() as s:
        workflow = workflow_records.get_workflow(s, workflow_id)
        still_running(workflow)
        model = catalog.get_model(s, workflow.model_id)
        source = catalog.get_variant(s, workflow.input_variant_id)
        try:
            options = workflow_records.options_of(workflow)
            priorities = parse_priorities(",".join(options.priorities)) if options.priorities else None
        except ValueError as e:
            raise WorkflowError(f"invalid workflow options: {e}") from None
        run = WorkflowRun(
            registry=registry,
            workflow_id=workflow_id,
            db_uri=db_uri,
            work_dir=work_dir,
            options=options,
            targets=list(workflow.targets),
            model_id=model.id,
            model_name=model.name,
            source_id=source.id,
            onnx_path=os.path.join(work_dir, "model.onnx"),
            priorities=priorities,
            samples_path=os.path.join(work_dir, "samples.npz") if model.sample_inputs_key else None,
        )
        source_key, samples_key = source.artifact_key, model.sample_inputs_key
    registry.artifacts.get_file(source_key, run.onnx_path)
    if samples_key:
        registry.artifacts.get_file(samples_key, run.samples_path)
    return run


def _run_stages(registry: Registry, workflow_id: str, db_uri: str, work_dir: str) -> dict:
    run = _load(registry, workflow_id, db_uri, work_dir)
    try:
        stages = stages_to_run(run.options.stages.chosen())
    except ValueError as e:
        raise WorkflowError(str(e)) from None
    for spec in stages:
        spec.load()().run(run)
    for kind in run.targets:
        run.show(kind, "done")
    return run.outputs


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
