"""Workflows (create, list, show, cancel) and the benchmark results they produce.

Creating or cancelling commits the registry's record first, then tells the workflow
service, so the service always finds the state the route set. Only the workflow's
creator or an admin may cancel it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status

from farm.api.auth import CurrentUser, Optimizer
from farm.api.deps import Limit, Offset, RegistryDep, SessionDep, WebhookPolicyDep, WorkflowsDep
from farm.api.schemas import Page, WorkflowCreate
from farm.registry import catalog, workflow_records
from farm.registry.schema import BenchmarkResult, Workflow
from farm.schemas import BenchmarkOut, WorkflowOut
from farm.workflows.notify import check_webhook_destination

router = APIRouter(tags=["workflows"])
State = Literal["pending", "running", "completed", "failed", "cancelled"]


@router.post("/workflows", status_code=status.HTTP_201_CREATED, response_model=WorkflowOut)
def create_workflow(
    request: Request,
    body: WorkflowCreate,
    user: Optimizer,
    registry: RegistryDep,
    service: WorkflowsDep,
    webhooks: WebhookPolicyDep,
) -> Workflow:
    """Start a workflow that tunes a model for each device kind given, then benchmarks and packages as its stages say. Optimizers only."""
    check_webhook_destination(body.webhook_url, webhooks)
    with registry.session() as s:
        workflow = workflow_records.create_workflow(
            s,
            body.model_id,
            targets=body.targets,
            options=body.options(),
            created_by=user.id,
            webhook_url=body.webhook_url,
            max_active=None if user.is_admin else request.app.state.max_workflows_per_user,
        )
    if service is not None:
        service.submit(workflow.id)
    return workflow


@router.get("/workflows", response_model=Page[WorkflowOut])
def list_workflows(
    _: CurrentUser,
    s: SessionDep,
    model_id: str | None = None,
    state: State | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict:
    """Workflows, newest first, filtered by state and model; paged."""
    items, total = workflow_records.list_workflows(s, model_id=model_id, state=state, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut)
def get_workflow(workflow_id: str, _: CurrentUser, s: SessionDep) -> Workflow:
    """One workflow, with its live progress per device kind."""
    return workflow_records.get_workflow(s, workflow_id)


@router.post("/workflows/{workflow_id}/cancel", response_model=WorkflowOut)
def cancel_workflow(workflow_id: str, user: Optimizer, registry: RegistryDep, service: WorkflowsDep) -> Workflow:
    """Cancel a pending or running workflow: its driver stops. Its creator or an admin."""
    with registry.session() as s:
        if workflow_records.get_workflow(s, workflow_id).created_by != user.id and not user.is_admin:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"only the creator of workflow {workflow_id} or an admin may cancel it"
            )
        workflow = workflow_records.cancel_workflow(s, workflow_id)
    if service is not None:
        service.cancel(workflow.id)
    return workflow


@router.get("/benchmarks", response_model=list[BenchmarkOut])
def list_benchmarks(
    _: CurrentUser,
    s: SessionDep,
    model_id: str | None = None,
    variant_id: str | None = None,
    workflow_id: str | None = None,
) -> list[BenchmarkResult]:
    """Benchmark results, filtered by model, variant and workflow."""
    return catalog.list_benchmarks(s, model_id=model_id, variant_id=variant_id, workflow_id=workflow_id)
