"""The initial registry: users, API tokens, projects, models, variants, workflows, benchmark results, packages.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

`variants.workflow_id` and `workflows.input_variant_id` reference each other: the
variants' foreign key is declared `use_alter`, so SQLite (no ALTER … ADD CONSTRAINT)
gets it inline in CREATE TABLE, and other databases get it by ALTER once `workflows` exists.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.String(32), primary_key=True)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("can_optimize", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.Text()),
        _time("created_at", nullable=False),
    )
    op.create_table(
        "api_tokens",
        _id(),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(8), nullable=False),
        _time("created_at", nullable=False),
        _time("revoked_at"),
        _time("last_used_at"),
    )
    op.create_table(
        "projects",
        _id(),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        _time("created_at", nullable=False),
    )
    op.create_table(
        "models",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), index=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(32), sa.ForeignKey("users.id")),
        _time("created_at", nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_models_project_name"),
    )
    op.create_table(
        "variants",
        _id(),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("target", sa.JSON()),
        sa.Column("target_key", sa.String(128)),
        sa.Column("parent_id", sa.String(32), sa.ForeignKey("variants.id")),
        sa.Column("workflow_id", sa.String(32), index=True),
        sa.Column("artifact_key", sa.String(64), nullable=False),
        sa.Column("artifact_name", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        _time("created_at", nullable=False),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"], name="fk_variants_workflow_id", use_alter=True),
    )
    op.create_table(
        "workflows",
        _id(),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id"), nullable=False, index=True),
        sa.Column("input_variant_id", sa.String(32), sa.ForeignKey("variants.id"), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_by", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("webhook_url", sa.Text()),
        sa.Column("driver", sa.Text()),
        _time("created_at", nullable=False),
        _time("started_at"),
        _time("finished_at"),
        sa.Column("outputs", sa.JSON(), nullable=False),
    )
    if op.get_context().dialect.supports_alter:
        op.create_foreign_key("fk_variants_workflow_id", "variants", "workflows", ["workflow_id"], ["id"])
    op.create_table(
        "benchmark_results",
        _id(),
        sa.Column("variant_id", sa.String(32), sa.ForeignKey("variants.id"), nullable=False, index=True),
        sa.Column("workflow_id", sa.String(32), sa.ForeignKey("workflows.id"), index=True),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        _time("created_at", nullable=False),
    )
    op.create_table(
        "packages",
        _id(),
        sa.Column("variant_id", sa.String(32), sa.ForeignKey("variants.id"), nullable=False, index=True),
        sa.Column("workflow_id", sa.String(32), sa.ForeignKey("workflows.id"), index=True),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("artifact_key", sa.String(64), nullable=False),
        sa.Column("artifact_name", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        _time("created_at", nullable=False),
    )


def downgrade() -> None:
    if op.get_context().dialect.supports_alter:
        op.drop_constraint("fk_variants_workflow_id", "variants", type_="foreignkey")
    for table in (
        "packages",
        "benchmark_results",
        "workflows",
        "variants",
        "models",
        "projects",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
