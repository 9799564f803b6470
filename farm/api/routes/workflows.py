"""Workflows (create, list, show, cancel) and the benchmark results they produce.

Creating or cancelling commits the registry's record first, then tells the workflow
service, so the service always finds the state the route set. A user sees the workflows
and benchmarks of the models they may see (`farm.registry.access`); members of a model's
project start workflows on it; the workflow's creator, the project's owners and admins
cancel it. A workflow's `webhook_url` is shown only to its creator and admins.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status

from farm.api.auth import CurrentUser, Optimizer
from farm.api.deps import (
    Limit,
    Offset,
    RegistryDep,
    SessionDep,
    SettingsDep,
    WebhookPolicyDep,
    WorkflowsDep,
    WorkflowService,
)
from farm.api.schemas import Page, WorkflowCreate
from farm.registry import access, catalog, workflow_records
from farm.registry.database import Registry
from farm.registry.schema import BenchmarkResult, User, Workflow
from farm.schemas import BenchmarkOut, WorkflowOut
from farm.workflows.notify import check_webhook_destination

router = APIRouter(tags=["workflows"])


def shown(workflow: Workflow, user: User) -> WorkflowOut:
    """The workflow as `user` may see it: its webhook URL only for its creator and admins."""
    out = WorkflowOut.model_validate(workflow)
    return out if user.is_admin or workflow.created_by == user.id else out.model_copy(update={"webhook_url": None})


State = Literal["pending", "running", "completed", "failed", "cancelled"]


@router.post("/workflows", status_code=status.HTTP_201_CREATED, response_model=WorkflowOut)
def create_workflow(
    body: WorkflowCreate,
    user: Optimizer,
    registry: RegistryDep,
    service: WorkflowsDep,
    webhooks: WebhookPolicyDep,
    settings: SettingsDep,
) -> Workflow:
    """Start a workflow that tunes a model for each device kind given, then benchmarks and packages as its stages say. Optimizers only."""
    check_webhook_destination(body.webhook_url, webhooks)
    with registry.session() as s:
        access.model(s, user, body.model_id, access.MEMBER)
        workflow = workflow_records.create_workflow(
            s,
            body.model_id,
            targets=body.targets,
            options=body.options(),
            created_by=user.id,
            webhook_url=body.webhook_url,
            max_active=None if user.is_admin else settings.max_workflows_per_user,
        )
    if service is not None:
        service.submit(workflow.id)
    return workflow


@router.get("/workflows", response_model=Page[WorkflowOut])
def list_workflows(
    user: CurrentUser,
    s: SessionDep,
    model_id: str | None = None,
    state: State | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict:
    """Workflows of the models the user may see, newest first, filtered by state and model; paged."""
    if model_id is not None:
        access.model(s, user, model_id)
    items, total = workflow_records.list_workflows(
        s, model_id=model_id, state=state, scope=access.visible_models(user), offset=offset, limit=limit
    )
    return {"items": [shown(w, user) for w in items], "total": total, "offset": offset, "limit": limit}


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut)
def get_workflow(workflow_id: str, user: CurrentUser, s: SessionDep) -> WorkflowOut:
    """One workflow, with its live progress per device kind."""
    return shown(access.workflow(s, user, workflow_id), user)


@router.post("/workflows/{workflow_id}/cancel", response_model=WorkflowOut)
def cancel_workflow(workflow_id: str, user: Optimizer, registry: RegistryDep, service: WorkflowsDep) -> WorkflowOut:
    """Cancel a pending or running workflow: its driver stops. Its creator, its project's owners or an admin."""
    return cancel_as(registry, service, user, workflow_id)


def cancel_as(registry: Registry, service: WorkflowService | None, user: User, workflow_id: str) -> WorkflowOut:
    """Cancel the workflow on `user`'s behalf, if they may (403 otherwise), then tell the service; the workflow as they see it."""
    with registry.session() as s:
        workflow = access.workflow(s, user, workflow_id)
        if not access.may_cancel(s, user, workflow):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"only the creator of workflow {workflow_id}, its project's owners or an admin may cancel it",
            )
        workflow = shown(workflow_records.cancel_workflow(s, workflow_id), user)
    if service is not None:
        service.cancel(workflow.id)
    return workflow


@router.get("/benchmarks", response_model=list[BenchmarkOut])
def list_benchmarks(
    user: CurrentUser,
    s: SessionDep,
    model_id: str | None = None,
    variant_id: str | None = None,
    workflow_id: str | None = None,
) -> list[BenchmarkResult]:
    """Benchmark results of the models the user may see, filtered by model, variant and workflow."""
    filters = access.filters(s, user, model_id=model_id, variant_id=variant_id, workflow_id=workflow_id)
    return catalog.list_benchmarks(s, **filters, scope=access.visible_models(user))
