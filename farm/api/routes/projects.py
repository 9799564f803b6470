"""Projects: create, list, show, rename or describe, delete (only when empty)."""

from __future__ import annotations

from fastapi import APIRouter, status

from farm.api.auth import CurrentUser, Optimizer
from farm.api.deps import Limit, Offset, SessionDep
from farm.api.schemas import Page, ProjectCreate, ProjectUpdate
from farm.registry import catalog
from farm.registry.schema import Project
from farm.schemas import ProjectOut

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectOut)
def create_project(body: ProjectCreate, _: Optimizer, s: SessionDep) -> Project:
    """Create a project. Optimizers only."""
    return catalog.create_project(s, body.name, body.description)


@router.get("", response_model=Page[ProjectOut])
def list_projects(_: CurrentUser, s: SessionDep, offset: Offset = 0, limit: Limit = 50) -> dict:
    """Projects by name; paged."""
    items, total = catalog.list_projects(s, offset, limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project_id: str, _: CurrentUser, s: SessionDep) -> Project:
    """One project."""
    return catalog.get_project(s, project_id)


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(project_id: str, body: ProjectUpdate, _: Optimizer, s: SessionDep) -> Project:
    """Rename a project or change its description. Optimizers only."""
    return catalog.update_project(s, project_id, body.name, body.description)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_project(project_id: str, _: Optimizer, s: SessionDep) -> None:
    """Delete an empty project. Optimizers only."""
    catalog.delete_project(s, project_id)
