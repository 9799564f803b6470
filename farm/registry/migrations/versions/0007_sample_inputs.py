"""A model's sample inputs: the `.npz` its workflows measure agreement on, kept in the artifact store.

Existing models have none (their workflows measured agreement on generated inputs, as
they still do without samples).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("sample_inputs_key", sa.String(64)))
        batch.add_column(sa.Column("sample_inputs_count", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("sample_inputs_count")
        batch.drop_column("sample_inputs_key")
