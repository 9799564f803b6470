"""What the routes share: the registry, one transaction per request, the workflow service, the settings and webhook policy,
paging parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Protocol

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from farm.api.settings import Settings
from farm.registry.database import Registry
from farm.registry.queries import MAX_LIMIT
from farm.workflows.notify import WebhookPolicy


class WorkflowService(Protocol):
    """Runs the registry's workflows on the cluster (`farm.workflows.service.WorkflowService`)."""

    def submit(self, workflow_id: str) -> None:
        """A new pending workflow was committed: start it when resources are free."""

    def cancel(self, workflow_id: str) -> None:
        """The registry marked the workflow cancelled: stop whatever runs it."""

    def targets(self) -> list[dict]:
        """The cluster's device kinds: `{name, platform, target, nodes}`."""

    def cluster(self) -> dict:
        """`{nodes: [...], ray_dashboard: address or None}`: each node's kinds, liveness and live farm metrics."""

    def check_offers(self, threshold: float) -> list[str]:
        """Make the re-optimization offers today's tuning records justify; their ids."""

    def tuning_database(self) -> dict:
        """The tuning database at a glance (`tuning_db.overview.overview`, plus its `uri`)."""

    def recover(self) -> None:
        """Called once at server start-up: pick up what a previous server left."""


def get_registry(request: Request) -> Registry:
    return request.app.state.registry


def get_workflows(request: Request) -> WorkflowService | None:
    return request.app.state.workflows


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_webhook_policy(settings: Annotated[Settings, Depends(get_settings)]) -> WebhookPolicy:
    return settings.webhooks


RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
WebhookPolicyDep = Annotated[WebhookPolicy, Depends(get_webhook_policy)]
WorkflowsDep = Annotated[WorkflowService | None, Depends(get_workflows)]


READ_METHODS = ("GET", "HEAD")


def db_session(request: Request, registry: RegistryDep) -> Iterator[Session]:
    """The request's transaction: committed when the route returns (before the response is sent), rolled back if it raises.

    A GET or HEAD request reads in a read-only session, which never waits for a writer on SQLite.
    """
    with registry.session(read_only=request.method in READ_METHODS) as s:
        yield s


SessionDep = Annotated[Session, Depends(db_session, scope="function")]
Offset = Annotated[int, Query(ge=0, description="Records to skip.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Records per page.")]
