"""Evaluation runs and their tasks.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("application", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("version_name", sa.String(length=200), nullable=True),
        sa.Column("code", Json, nullable=True),
        sa.Column("target_id", sa.String(length=32), nullable=True),
        sa.Column("target_canonical_name", sa.String(length=500), nullable=True),
        sa.Column("target_version_number", sa.Integer(), nullable=True),
        sa.Column("pipeline_name", sa.String(length=500), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=200), nullable=True),
        sa.Column("pipeline_stage", sa.String(length=200), nullable=True),
        sa.Column("data_refs", Json, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("summary", Json, nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evaluation_runs_created", "evaluation_runs", ["created", "id"])
    op.create_index("ix_evaluation_runs_app_created", "evaluation_runs", ["application", "created", "id"])
    op.create_index("ix_evaluation_runs_name_created", "evaluation_runs", ["name", "created", "id"])
    op.create_index("ix_evaluation_runs_target", "evaluation_runs", ["target_id", "created", "id"])
    op.create_index(
        "ix_evaluation_runs_target_name", "evaluation_runs", ["target_canonical_name", "target_version_number"]
    )
    op.create_index("ix_evaluation_runs_pipeline_run", "evaluation_runs", ["pipeline_run_id"])
    op.create_table(
        "evaluation_tasks",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("data_ref", sa.String(length=2000), nullable=True),
        sa.Column("segment", sa.String(length=500), nullable=True),
        sa.Column("prototype_ref", sa.String(length=500), nullable=True),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("expectations", Json, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", Json, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["evaluation_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("evaluation_tasks")
    op.drop_table("evaluation_runs")
