"""Workflow records and their state machine: pending → running → completed | failed | cancelled.

This module only records; running a workflow belongs to the workflow service. Rules:
- `start_workflow` takes a pending workflow to running (anything else is a `Conflict`);
- `complete_workflow` needs a running one; `fail_workflow` accepts pending or running;
- `cancel_workflow` accepts pending or running and discards what the workflow recorded;
  cancelling a finished one is a `Conflict`;
- every state change is a compare-and-set (`UPDATE … WHERE state IN …`), so of two racing
  changes (cancel and complete, two dispatchers starting one workflow) exactly one wins,
  on PostgreSQL as on SQLite; a driver records results under `lock_running`;
- a terminal state never changes again: completing or failing a finished workflow (say,
  a driver reporting after a cancel) is a no-op returning it, and progress reports are
  ignored; `finished_at` is set on every terminal transition.

Options are validated by their one schema (`farm.workflow_options.StoredWorkflowOptions`)
and stored with every default filled in; `options_of` reads them back typed.
Progress starts as `{stage: "pending", trials: 0, total: None, best_latency_ms: None}`
per target kind; each report that moves a kind's trials or estimated latency also appends
a `ProgressPoint`, the history the dashboard draws.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from farm.registry.catalog import ORIGINAL
from farm.registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from farm.registry.queries import fetch, page
from farm.registry.schema import (
    ACTIVE_STATES,
    WORKFLOW_STATES,
    BenchmarkResult,
    Model,
    Offer,
    Package,
    ProgressPoint,
    User,
    Variant,
    Workflow,
    utcnow,
)
from farm.registry.validation import check_webhook_url
from farm.workflow_options import StoredWorkflowOptions, WorkflowOptions, problems

INT32_LIMIT = 1 << 31  # the points' trials column


def _targets(targets: list[str]) -> list[str]:
    if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) and t.strip() for t in targets):
        raise InvalidInput("targets must be a list of device kind names")
    kinds = list(dict.fromkeys(t.strip() for t in targets))
    if not kinds:
        raise InvalidInput("a workflow needs at least one target device kind")
    return kinds


def _options(options: WorkflowOptions | dict) -> dict:
    """The options as stored: validated by their one schema, every default filled in."""
    if isinstance(options, WorkflowOptions):
        options = options.model_dump()
    try:
        return StoredWorkflowOptions.model_validate(options).model_dump(mode="json")
    except ValidationError as e:
        raise InvalidInput(f"invalid workflow options: {problems(e)}") from None


def options_of(workflow: Workflow) -> StoredWorkflowOptions:
    """A workflow's stored options, typed (options stored before the schema existed validate too)."""
    return StoredWorkflowOptions.model_validate(workflow.options or {})


def create_workflow(
    s: Session,
    model_id: str,
    *,
    targets: list[str],
    options: WorkflowOptions | dict,
    created_by: str,
    input_variant_id: str | None = None,
    webhook_url: str | None = None,
    max_active: int | None = None,
) -> Workflow:
    """A pending workflow tuning a variant of the model (its original by default) for each target kind.

    Without a `webhook_url` of its own, the workflow notifies its creator's webhook URL, if any.
    A creator who already has `max_active` pending or running workflows is refused (`Conflict`).
    """
    model = fetch(s, Model, model_id)
    creator = fetch(s, User, created_by)
    if max_active is not None:
        active = s.scalar(
            select(func.count())
            .select_from(Workflow)
            .where(Workflow.created_by == created_by, Workflow.state.in_(ACTIVE_STATES))
        )
        if active >= max_active:
            raise Conflict(
                f"{creator.email} has {active} pending or running workflows, the most this server allows per user "
                f"(--max-workflows-per-user {max_active}); wait for one to end or cancel one"
            )
    webhook_url = webhook_url or creator.webhook_url
    kinds = _targets(targets)
    if input_variant_id is None:
        input_variant_id = s.scalar(
            select(Variant.id)
            .where(Variant.model_id == model.id, Variant.kind == ORIGINAL)
            .order_by(Variant.created_at)
        )
        if input_variant_id is None:
            raise Conflict(f"model {model.name!r} has no original variant to optimize")
    elif fetch(s, Variant, input_variant_id).model_id != model.id:
        raise InvalidInput(f"variant {input_variant_id} is not a variant of model {model.name!r}")
    workflow = Workflow(
        model_id=model.id,
        input_variant_id=input_variant_id,
        targets=kinds,
        options=_options(options),
        state="pending",
        progress={kind: {"stage": "pending", "trials": 0, "total": None, "best_latency_ms": None} for kind in kinds},
        created_by=created_by,
        webhook_url=check_webhook_url(webhook_url) if webhook_url is not None else None,
        outputs={},
    )
    s.add(workflow)
    s.flush()
    return workflow


def list_workflows(
    s: Session,
    *,
    model_id: str | None = None,
    state: str | None = None,
    scope: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Workflow], int]:
    """A page of workflows, newest first, and how many match the filters (`scope`: a condition on their `Model`)."""
    stmt = select(Workflow).order_by(Workflow.created_at.desc(), Workflow.id.desc())
    if scope is not None:
        stmt = stmt.join(Model, Model.id == Workflow.model_id).where(scope)
    if model_id is not None:
        stmt = stmt.where(Workflow.model_id == model_id)
    if state is not None:
        if state not in WORKFLOW_STATES:
            raise InvalidInput(f"unknown workflow state {state!r}: one of {', '.join(WORKFLOW_STATES)}")
        stmt = stmt.where(Workflow.state == state)
    return page(s, stmt, offset, limit)


def recent_finished(s: Session, *, scope: ColumnElement[bool] | None = None, limit: int = 50) -> list[Workflow]:
    """The `limit` workflows finished last (completed, failed or cancelled), newest first (`scope`: on their `Model`)."""
    stmt = select(Workflow).where(Workflow.state.not_in(ACTIVE_STATES))
    if scope is not None:
        stmt = stmt.join(Model, Model.id == Workflow.model_id).where(scope)
    return list(s.scalars(stmt.order_by(Workflow.finished_at.desc(), Workflow.id.desc()).limit(limit)))


def get_workflow(s: Session, workflow_id: str) -> Workflow:
    """The workflow with this id, or `NotFound`."""
    return fetch(s, Workflow, workflow_id)


def _transition(s: Session, workflow_id: str, allowed: tuple[str, ...], **values) -> Workflow | None:
    """Compare-and-set: move the workflow to `values` only if its state is one of `allowed`, in one UPDATE.

    Two transactions that both read "running" cannot both win: on PostgreSQL the second
    UPDATE waits for the first to commit and then finds the state changed (0 rows); on
    SQLite writers are serialized. Returns the updated workflow, or None if it was not in
    an allowed state (or does not exist).
    """
    done = s.execute(
        update(Workflow)
        .where(Workflow.id == workflow_id, Workflow.state.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        return None
    workflow = s.get(Workflow, workflow_id)
    s.refresh(workflow)
    return workflow


def start_workflow(s: Session, workflow_id: str, driver: str) -> Workflow:
    """Mark a pending workflow running under `driver` (the Ray actor or job that runs it); `PermissionDenied` if its creator was deactivated.

    Of two dispatchers starting the same workflow at once, one wins and the other gets a `Conflict`.
    """
    workflow = fetch(s, Workflow, workflow_id)
    creator = fetch(s, User, workflow.created_by)
    if workflow.state == "pending" and not creator.is_active:
        raise PermissionDenied(f"workflow {workflow.id} was not started: its creator {creator.email} is deactivated")
    started = _transition(s, workflow_id, ("pending",), state="running", driver=driver, started_at=utcnow())
    if started is None:
        s.refresh(workflow)
        raise Conflict(f"workflow {workflow.id} is {workflow.state}; only a pending workflow can start")
    return started


def lock_running(s: Session, workflow_id: str) -> Workflow:
    """The workflow, locked for the rest of the transaction (`SELECT … FOR UPDATE`); `Conflict` unless it is running.

    A driver records its results inside such a transaction, so a cancel either commits
    first (and the driver records nothing) or waits for the results and then removes them.
    """
    workflow = s.scalar(select(Workflow).where(Workflow.id == workflow_id).with_for_update())
    if workflow is None:
        raise NotFound(f"workflow {workflow_id} not found")
    if workflow.state != "running":
        raise Conflict(f"workflow {workflow.id} is {workflow.state}")
    return workflow


def update_progress(s: Session, workflow_id: str, progress: dict) -> Workflow:
    """Merge `{kind: {field: value}}` into the workflow's progress; ignored once the workflow is finished."""
    workflow = fetch(s, Workflow, workflow_id)
    if not isinstance(progress, dict) or not all(isinstance(v, dict) for v in progress.values()):
        raise InvalidInput('progress must map device kinds to objects, e.g. {"x86-64": {"trials": 12}}')
    if workflow.state in ACTIVE_STATES:
        merged = dict(workflow.progress)
        for kind, fields in progress.items():
            merged[kind] = {**merged.get(kind, {}), **fields}
            _append_point(s, workflow.id, kind, workflow.progress.get(kind, {}), merged[kind])
        workflow.progress = merged
        s.flush()
    return workflow


def _append_point(s: Session, workflow_id: str, kind: str, before: dict, after: dict) -> None:
    """Record a step of `kind`'s progress when its trials or its estimated latency moved."""
    step = (after.get("trials"), after.get("best_latency_ms"))
    if step == (before.get("trials"), before.get("best_latency_ms")) or not _count(step[0]):
        return
    latency = step[1] if isinstance(step[1], (int, float)) and not isinstance(step[1], bool) else None
    s.add(ProgressPoint(workflow_id=workflow_id, kind=kind, trials=int(step[0]), best_latency_ms=latency))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < INT32_LIMIT


def progress_history(s: Session, workflow_id: str) -> dict[str, list[tuple[int, float | None]]]:
    """Per kind, the workflow's progress steps in order: (trials, estimated latency in ms or None)."""
    rows = s.execute(
        select(ProgressPoint.kind, ProgressPoint.trials, ProgressPoint.best_latency_ms)
        .where(ProgressPoint.workflow_id == workflow_id)
        .order_by(ProgressPoint.id)
    )
    history: dict[str, list[tuple[int, float | None]]] = {}
    for kind, trials, latency in rows:
        history.setdefault(kind, []).append((trials, latency))
    return history


def complete_workflow(s: Session, workflow_id: str, outputs: dict) -> Workflow:
    """Mark a running workflow completed with its outputs; a no-op on a finished one."""
    if not isinstance(outputs, dict):
        raise InvalidInput("workflow outputs must be a JSON object")
    done = _transition(s, workflow_id, ("running",), state="completed", outputs=outputs, finished_at=utcnow())
    if done is not None:
        return done
    workflow = fetch(s, Workflow, workflow_id)
    s.refresh(workflow)
    if workflow.state == "pending":
        raise Conflict(f"workflow {workflow.id} is pending; it must start before it can complete")
    return workflow


def fail_workflow(s: Session, workflow_id: str, error: str) -> Workflow:
    """Mark a pending or running workflow failed with the error; a no-op on a finished one."""
    done = _transition(s, workflow_id, ACTIVE_STATES, state="failed", error=str(error), finished_at=utcnow())
    if done is not None:
        _close_offers(s, workflow_id, f"its workflow failed: {error}")
        return done
    workflow = fetch(s, Workflow, workflow_id)
    s.refresh(workflow)
    return workflow


def cancel_workflow(s: Session, workflow_id: str) -> Workflow:
    """Cancel a pending or running workflow and discard what it recorded; one already finished is a `Conflict`.

    A cancelled workflow leaves no variants, benchmark results or packages (its tuning
    records stay in the tuning database, so running it again is quick; its artifacts are
    left to `farm admin gc`). The state and the removal are one transaction, and a driver
    records its results under `lock_running`, so a cancel racing a driver's last records
    never ends as a cancelled workflow with variants.
    """
    workflow = _transition(s, workflow_id, ACTIVE_STATES, state="cancelled", finished_at=utcnow())
    if workflow is None:
        found = fetch(s, Workflow, workflow_id)
        s.refresh(found)
        raise Conflict(f"workflow {found.id} is already {found.state}")
    made = select(Variant.id).where(Variant.workflow_id == workflow_id)
    for cls in (Package, BenchmarkResult):
        s.execute(delete(cls).where(or_(cls.workflow_id == workflow_id, cls.variant_id.in_(made))))
    s.execute(delete(Variant).where(Variant.workflow_id == workflow_id))
    _close_offers(s, workflow_id, "its workflow was cancelled")
    s.flush()
    return workflow


def _close_offers(s: Session, workflow_id: str, reason: str) -> None:
    """The offers a workflow was checking, closed as not confirmed (the workflow ended without a verdict)."""
    s.execute(
        update(Offer)
        .where(Offer.workflow_id == workflow_id, Offer.state.in_(("accepted", "confirmed")))
        .values(state="not_confirmed", result={"reason": reason}, closed_at=utcnow())
    )
