"""The server itself: a health check (no token needed) and the device kinds the cluster serves."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter

from farm.api.auth import CurrentUser
from farm.api.deps import WorkflowsDep
from farm.api.schemas import Health, TargetOut

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """Whether the API answers, and the farm's version. Needs no token."""
    return Health(status="ok", version=version("tuning-farm"))


@router.get("/targets", response_model=list[TargetOut])
def targets(_: CurrentUser, service: WorkflowsDep) -> list[dict]:
    """The device kinds the Ray cluster serves now, with their TVM targets and live nodes."""
    return service.targets() if service is not None else []
