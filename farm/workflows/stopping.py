"""A driver stops as soon as its workflow is no longer running (cancelled, or failed by the server).

It checks at every progress update (`still_running`) and records each result inside a
transaction that holds the running workflow locked (`hold_running`), so a cancel either
commits first, and the driver records nothing more, or waits and then removes what it
recorded (`farm.registry.workflow_records.cancel_workflow`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..registry import workflow_records
from ..registry.errors import Conflict
from ..registry.schema import Workflow


class WorkflowStopped(RuntimeError):
    """The workflow is no longer running (cancelled, or failed by the server): its driver stops."""


def still_running(workflow: Workflow) -> None:
    """`WorkflowStopped` unless the workflow (as just read or updated) is running."""
    if workflow.state != "running":
        raise WorkflowStopped(f"workflow {workflow.id} is {workflow.state}")


def hold_running(s: Session, workflow_id: str) -> None:
    """Lock the running workflow for this transaction, which records its results; `WorkflowStopped` once it is not."""
    try:
        workflow_records.lock_running(s, workflow_id)
    except Conflict as e:
        raise WorkflowStopped(e.message) from None
