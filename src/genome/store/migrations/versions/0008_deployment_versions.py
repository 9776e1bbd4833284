"""Versioned deployments: every change of a deployment kept in deployment_versions (a deletion too), the current
version's number on the deployment, and the version a pipeline run started with.

Deployments that exist at the upgrade become their version 1, made when they were last updated, by whoever did:
the history starts from what the store knows. Runs from before the upgrade have no recorded version.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "deployment_versions",
        sa.Column("application", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.PrimaryKeyConstraint("application", "name", "version"),
    )
    op.add_column("deployments", sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")))
    op.add_column("pipeline_runs", sa.Column("deployment_version", sa.Integer()))
    deployments = sa.table(
        "deployments",
        sa.column("application"),
        sa.column("name"),
        sa.column("parameters"),
        sa.column("updated"),
        sa.column("updated_by"),
    )
    versions = sa.table(
        "deployment_versions",
        sa.column("application"),
        sa.column("name"),
        sa.column("version"),
        sa.column("parameters"),
        sa.column("deleted"),
        sa.column("created"),
        sa.column("created_by"),
    )
    current = sa.select(
        deployments.c.application,
        deployments.c.name,
        sa.literal(1),
        deployments.c.parameters,
        sa.false(),
        deployments.c.updated,
        deployments.c.updated_by,
    )
    op.execute(versions.insert().from_select(list(versions.c.keys()), current))


def downgrade() -> None:
    op.drop_column("pipeline_runs", "deployment_version")
    op.drop_column("deployments", "version")
    op.drop_table("deployment_versions")
