"""Model cards: the intended use a version is saved with.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("intended_use", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("model_versions", "intended_use")
