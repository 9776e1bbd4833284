"""The alias ledger: every move of an alias, so that "which version was production on date X" has an answer.

Aliases that exist at the upgrade are recorded as set when they were last moved (by an unknown actor): the ledger
starts from what the store knows.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("application", sa.String(200), nullable=False),
        sa.Column("canonical_name", sa.String(500), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version_id", sa.String(32)),
        sa.Column("version_number", sa.Integer()),
        sa.Column("previous_version_id", sa.String(32)),
        sa.Column("previous_version_number", sa.Integer()),
        sa.Column("actor", sa.String(200)),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_alias_events_name", "alias_events", ["application", "canonical_name", "at", "id"])
    op.execute(
        "INSERT INTO alias_events (application, canonical_name, alias, version_id, version_number, at) "
        "SELECT a.application, a.canonical_name, a.alias, a.version_id, v.version_number, a.updated "
        "FROM model_aliases a JOIN model_versions v ON v.id = a.version_id"
    )


def downgrade() -> None:
    op.drop_index("ix_alias_events_name", table_name="alias_events")
    op.drop_table("alias_events")
