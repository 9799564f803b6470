"""Re-optimization offers: a faster variant the tuning database's newer records promise for a model's best variant.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("variant_id", sa.String(32), sa.ForeignKey("variants.id"), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("old_latency_ms", sa.Float, nullable=False),
        sa.Column("estimated_latency_ms", sa.Float, nullable=False),
        sa.Column("improved", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("workflow_id", sa.String(32), sa.ForeignKey("workflows.id")),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_offers_model_id", "offers", ["model_id"])
    op.create_index("ix_offers_variant_id", "offers", ["variant_id"])
    op.create_index("ix_offers_state", "offers", ["state"])


def downgrade() -> None:
    for index in ("ix_offers_state", "ix_offers_variant_id", "ix_offers_model_id"):
        op.drop_index(index, "offers")
    op.drop_table("offers")
