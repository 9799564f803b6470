"""Tenancy: which projects, models, variants, workflows and packages a user may see and change.

A project has members, each with a role (`PROJECT_ROLES`): a `viewer` sees and downloads,
a `member` also uploads, edits and optimizes its models, an `owner` also renames or
deletes the project and manages its members. A detached model belongs to its uploader
alone. Admins act as owners everywhere. Every other record hangs from a model (variants,
workflows, benchmark results, packages), so a user's role on a record is their role on
its model.

A record a user may not see is reported as missing, with the very message of an id that
does not exist (`NotFound`): an id never tells anyone what exists beyond their projects.
A record they may see but not change is `PermissionDenied`, naming the role it needs.
The account's own role still applies on top: a read-only user changes nothing anywhere.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true
from sqlalchemy.orm import Session

from farm.registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from farm.registry.queries import fetch
from farm.registry.schema import (
    PROJECT_ROLES,
    Model,
    Offer,
    Package,
    Project,
    ProjectMember,
    User,
    Variant,
    Workflow,
)

VIEWER, MEMBER, OWNER = PROJECT_ROLES


def _allows(role: str | None, need: str) -> bool:
    return role is not None and PROJECT_ROLES.index(role) >= PROJECT_ROLES.index(need)


def check_role(role: str) -> str:
    """`role` if it is a project role, else `InvalidInput` naming them."""
    if role not in PROJECT_ROLES:
        raise InvalidInput(f"a project role is one of {', '.join(PROJECT_ROLES)}, not {role!r}")
    return role


def project_role(s: Session, user: User, project_id: str) -> str | None:
    """The user's role in the project (admins: owner), or None if they are not a member."""
    if user.is_admin:
        return OWNER
    return s.scalar(
        select(ProjectMember.role).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user.id)
    )


def model_role(s: Session, user: User, model: Model) -> str | None:
    """The user's role on a model: their role in its project, or owner of a detached model they uploaded."""
    if model.project_id is not None:
        return project_role(s, user, model.project_id)
    return OWNER if user.is_admin or model.created_by == user.id else None


def visible_projects(user: User) -> ColumnElement[bool]:
    """A condition on `Project` that holds for the projects the user may see."""
    if user.is_admin:
        return true()
    return Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.user_id == user.id))


def visible_models(user: User) -> ColumnElement[bool]:
    """A condition on `Model` that holds for the models the user may see."""
    if user.is_admin:
        return true()
    member_of = select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
    return or_(Model.project_id.in_(member_of), and_(Model.project_id.is_(None), Model.created_by == user.id))


def _check(role: str | None, need: str, label: str, record_id: str) -> None:
    if role is None:
        raise NotFound(f"{label} {record_id} not found")
    if not _allows(role, need):
        raise PermissionDenied(
            f"your role on {label} {record_id} is {role}: this needs {need} (ask its project's owner)"
        )


def project(s: Session, user: User, project_id: str, need: str = VIEWER) -> Project:
    """The project, if the user's role in it allows `need`; else `NotFound` (not a member) or `PermissionDenied`."""
    found = s.get(Project, project_id) if isinstance(project_id, str) else None
    role = project_role(s, user, found.id) if found is not None else None
    _check(role, need, Project.label, project_id)
    return found


def model(s: Session, user: User, model_id: str, need: str = VIEWER) -> Model:
    """The model, if the user's role on it allows `need`; else `NotFound` or `PermissionDenied`."""
    found = s.get(Model, model_id) if isinstance(model_id, str) else None
    role = model_role(s, user, found) if found is not None else None
    _check(role, need, Model.label, model_id)
    return found


def _via_model(s: Session, user: User, cls: type, record_id: str, model_id_of, need: str):
    found = s.get(cls, record_id) if isinstance(record_id, str) else None
    role = model_role(s, user, fetch(s, Model, model_id_of(s, found))) if found is not None else None
    _check(role, need, cls.label, record_id)
    return found


def variant(s: Session, user: User, variant_id: str, need: str = VIEWER) -> Variant:
    """The variant, if the user's role on its model allows `need`."""
    return _via_model(s, user, Variant, variant_id, lambda s, v: v.model_id, need)


def workflow(s: Session, user: User, workflow_id: str, need: str = VIEWER) -> Workflow:
    """The workflow, if the user's role on its model allows `need`."""
    return _via_model(s, user, Workflow, workflow_id, lambda s, w: w.model_id, need)


def package(s: Session, user: User, package_id: str, need: str = VIEWER) -> Package:
    """The package, if the user's role on its variant's model allows `need`."""
    return _via_model(s, user, Package, package_id, lambda s, p: fetch(s, Variant, p.variant_id).model_id, need)


def offer(s: Session, user: User, offer_id: str, need: str = VIEWER) -> Offer:
    """The offer, if the user's role on its model allows `need`."""
    return _via_model(s, user, Offer, offer_id, lambda s, o: o.model_id, need)


def may_cancel(s: Session, user: User, workflow: Workflow) -> bool:
    """Whether `user` may cancel `workflow` (pending or running or not): its creator, its project's owners and admins,
    and only users whose account may optimize."""
    if not (user.is_admin or user.can_optimize):
        return False
    return workflow.created_by == user.id or model_role(s, user, fetch(s, Model, workflow.model_id)) == OWNER


def members(s: Session, project_id: str) -> list[tuple[ProjectMember, User]]:
    """The project's members with their users, owners first, then by email."""
    rows = s.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.role != OWNER, User.email)
    )
    return [tuple(row) for row in rows]


def find_user(s: Session, ref: str) -> User:
    """The user with this id or email, or `NotFound`."""
    user = s.get(User, ref) or s.scalar(select(User).where(User.email == ref))
    if user is None:
        raise NotFound(f"user {ref} not found")
    return user


def _owners(s: Session, project_id: str) -> int:
    where = (ProjectMember.project_id == project_id, ProjectMember.role == OWNER)
    return s.scalar(select(func.count()).select_from(ProjectMember).where(*where)) or 0


def set_member(s: Session, project_id: str, user_id: str, role: str) -> ProjectMember:
    """Give a user a role in a project (adding them, or changing their role); the last owner stays an owner."""
    fetch(s, Project, project_id)
    fetch(s, User, user_id)
    member = s.get(ProjectMember, (project_id, user_id))
    if member is None:
        member = ProjectMember(project_id=project_id, user_id=user_id, role=check_role(role))
        s.add(member)
    else:
        if member.role == OWNER and check_role(role) != OWNER and _owners(s, project_id) == 1:
            raise Conflict("a project keeps at least one owner: make someone else owner first")
        member.role = role
    s.flush()
    return member


def remove_member(s: Session, project_id: str, user_id: str) -> None:
    """Take a user out of a project; the last owner cannot leave."""
    member = s.get(ProjectMember, (project_id, user_id))
    if member is None:
        raise NotFound(f"user {user_id} is not a member of project {project_id}")
    if member.role == OWNER and _owners(s, project_id) == 1:
        raise Conflict("a project keeps at least one owner: make someone else owner first")
    s.execute(delete(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user_id))
    s.flush()


def filters(
    s: Session, user: User, *, model_id: str | None, variant_id: str | None, workflow_id: str | None
) -> dict[str, str | None]:
    """A listing's id filters, each checked as a record the user may see (`NotFound` otherwise)."""
    if model_id is not None:
        model(s, user, model_id)
    if variant_id is not None:
        variant(s, user, variant_id)
    if workflow_id is not None:
        workflow(s, user, workflow_id)
    return {"model_id": model_id, "variant_id": variant_id, "workflow_id": workflow_id}
