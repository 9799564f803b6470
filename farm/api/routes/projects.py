"""Projects: create, list, show, rename or describe, delete (only when empty), and their members.

A user sees the projects they are a member of (admins see all); one they are not a
member of is a 404, as if it did not exist (`farm.registry.access`). Whoever creates a
project owns it; owners rename, delete and manage members.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from farm.api.auth import CurrentUser, Optimizer
from farm.api.deps import Limit, Offset, SessionDep
from farm.api.schemas import MemberOut, MemberSet, Page, ProjectCreate, ProjectUpdate
from farm.registry import access, catalog
from farm.registry.schema import Project, ProjectMember, User
from farm.schemas import ProjectOut

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectOut)
def create_project(body: ProjectCreate, user: Optimizer, s: SessionDep) -> Project:
    """Create a project, owned by its creator. Optimizers only."""
    return catalog.create_project(s, body.name, body.description, owner_id=user.id)


@router.get("", response_model=Page[ProjectOut])
def list_projects(user: CurrentUser, s: SessionDep, offset: Offset = 0, limit: Limit = 50) -> dict:
    """The projects the user is a member of (admins: all), by name; paged."""
    items, total = catalog.list_projects(s, offset, limit, scope=access.visible_projects(user))
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project_id: str, user: CurrentUser, s: SessionDep) -> Project:
    """One project."""
    return access.project(s, user, project_id)


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(project_id: str, body: ProjectUpdate, user: Optimizer, s: SessionDep) -> Project:
    """Rename a project or change its description. Its owners only."""
    access.project(s, user, project_id, access.OWNER)
    return catalog.update_project(s, project_id, body.name, body.description)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_project(project_id: str, user: Optimizer, s: SessionDep) -> None:
    """Delete an empty project. Its owners only."""
    access.project(s, user, project_id, access.OWNER)
    catalog.delete_project(s, project_id)


def _member(member: ProjectMember, user: User) -> MemberOut:
    return MemberOut(user_id=user.id, email=user.email, role=member.role, created_at=member.created_at)


@router.get("/{project_id}/members", response_model=list[MemberOut])
def list_members(project_id: str, user: CurrentUser, s: SessionDep) -> list[MemberOut]:
    """The project's members and their roles, owners first."""
    access.project(s, user, project_id)
    return [_member(m, u) for m, u in access.members(s, project_id)]


@router.put("/{project_id}/members/{member}", response_model=MemberOut)
def set_member(project_id: str, member: str, body: MemberSet, user: Optimizer, s: SessionDep) -> MemberOut:
    """Add a user (by id or email) to the project, or change their role. Its owners only."""
    access.project(s, user, project_id, access.OWNER)
    target = access.find_user(s, member)
    return _member(access.set_member(s, project_id, target.id, body.role), target)


@router.delete("/{project_id}/members/{member}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(project_id: str, member: str, user: CurrentUser, s: SessionDep) -> None:
    """Take a user (by id or email) out of the project. Its owners, or the member themself leaving."""
    access.project(s, user, project_id, access.VIEWER if member in (user.id, user.email) else access.OWNER)
    access.remove_member(s, project_id, access.find_user(s, member).id)
