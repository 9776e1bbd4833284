"""The Sequencer: deployments, stored pipelines and their schedules, runs with their steps and attempts.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("application", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("application", "name"),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.String(length=32), nullable=True),
        sa.Column("scheduled_for", sa.BigInteger(), nullable=True),
        sa.Column("application", sa.String(length=200), nullable=False),
        sa.Column("pipeline_name", sa.String(length=500), nullable=False),
        sa.Column("canonical_name", sa.String(length=500), nullable=True),
        sa.Column("deployment", sa.String(length=200), nullable=True),
        sa.Column("spec", Json, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("heartbeat", sa.BigInteger(), nullable=True),
        sa.Column("credential_id", sa.String(length=32), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=True),
        sa.Column("finished", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pipeline_id", "scheduled_for", name="ux_pipeline_runs_firing"),
    )
    op.create_index("ix_pipeline_runs_app_created", "pipeline_runs", ["application", "created", "id"], unique=False)
    op.create_index("ix_pipeline_runs_created", "pipeline_runs", ["created", "id"], unique=False)
    op.create_index("ix_pipeline_runs_pipeline", "pipeline_runs", ["pipeline_id", "created"], unique=False)
    op.create_index("ix_pipeline_runs_status", "pipeline_runs", ["status", "created"], unique=False)
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("application", sa.String(length=200), nullable=False),
        sa.Column("pipeline_name", sa.String(length=500), nullable=False),
        sa.Column("canonical_name", sa.String(length=500), nullable=True),
        sa.Column("deployment", sa.String(length=200), nullable=True),
        sa.Column("version_name", sa.String(length=200), nullable=True),
        sa.Column("spec", Json, nullable=False),
        sa.Column("schedule", sa.String(length=200), nullable=True),
        sa.Column("next_run", sa.BigInteger(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pipelines_app_created", "pipelines", ["application", "created", "id"], unique=False)
    op.create_index("ix_pipelines_created", "pipelines", ["created", "id"], unique=False)
    op.create_index("ix_pipelines_due", "pipelines", ["next_run"], unique=False)
    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("step_name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("group", sa.Integer(), nullable=False),
        sa.Column("step_type", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["pipeline_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "step_name"),
    )
    op.create_table(
        "step_attempts",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("step_name", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("process_start", sa.String(length=40), nullable=True),
        sa.Column("log_path", sa.String(length=2000), nullable=True),
        sa.Column("log_ref", sa.String(length=1000), nullable=True),
        sa.Column("log_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id", "step_name"], ["run_steps.run_id", "run_steps.step_name"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "step_name", "number"),
    )


def downgrade() -> None:
    op.drop_table("step_attempts")
    op.drop_table("run_steps")
    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
    op.drop_table("deployments")
