"""Progress history: each workflow's trials and estimated latency per device kind, a row per step.

Existing workflows get none (their history was never kept); the dashboard draws their
curve from the points recorded from now on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "progress_points",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("workflow_id", sa.String(32), sa.ForeignKey("workflows.id"), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trials", sa.Integer, nullable=False),
        sa.Column("best_latency_ms", sa.Float),
    )
    op.create_index("ix_progress_points_workflow_id", "progress_points", ["workflow_id"])


def downgrade() -> None:
    op.drop_index("ix_progress_points_workflow_id", "progress_points")
    op.drop_table("progress_points")
