"""Project members (tenancy): each project's users and their roles; existing projects get an owner.

An existing project is owned by the uploader of its oldest model that has one, else by
the oldest admin; with neither (no users yet), it has no members and only admins see it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    members = op.create_table(
        "project_members",
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_project_members_user_id", "project_members", ["user_id"])
    projects = sa.table("projects", sa.column("id", sa.String))
    models = sa.table(
        "models",
        sa.column("project_id", sa.String),
        sa.column("created_by", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    users = sa.table("users", sa.column("id", sa.String), sa.column("is_admin", sa.Boolean), sa.column("created_at"))
    connection = op.get_bind()
    first_admin = connection.scalar(
        sa.select(users.c.id).where(users.c.is_admin.is_(True)).order_by(users.c.created_at, users.c.id).limit(1)
    )
    now = datetime.now(timezone.utc)
    for (project_id,) in connection.execute(sa.select(projects.c.id)).all():
        uploader = connection.scalar(
            sa.select(models.c.created_by)
            .where(models.c.project_id == project_id, models.c.created_by.is_not(None))
            .order_by(models.c.created_at)
            .limit(1)
        )
        owner = uploader or first_admin
        if owner is not None:
            connection.execute(
                members.insert().values(project_id=project_id, user_id=owner, role="owner", created_at=now)
            )


def downgrade() -> None:
    op.drop_index("ix_project_members_user_id", "project_members")
    op.drop_table("project_members")
