"""Trust boundaries: whether a version's bundle can only be loaded in the isolated worker (it carries code).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for versions stored before this revision: their bundle is classified when it is first served.
    op.add_column("model_versions", sa.Column("isolated", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("model_versions", "isolated")
