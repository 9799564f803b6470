"""Device prices: what an hour of each device kind costs, for benchmarks' cost per million inferences.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_prices",
        sa.Column("kind", sa.String(128), primary_key=True),
        sa.Column("usd_per_hour", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(32), sa.ForeignKey("users.id")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("device_prices")
