"""model store

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "model_names",
        sa.Column("application", sa.String(length=200), nullable=False),
        sa.Column("canonical_name", sa.String(length=500), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("application", "canonical_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("application", sa.String(length=200), nullable=False),
        sa.Column("canonical_name", sa.String(length=500), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("version_name", sa.String(length=200), nullable=True),
        sa.Column("pipeline_name", sa.String(length=500), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=200), nullable=True),
        sa.Column("pipeline_stage", sa.String(length=200), nullable=True),
        sa.Column("framework", sa.String(length=40), nullable=False),
        sa.Column("input_modality", sa.String(length=20), nullable=False),
        sa.Column("prediction_type", sa.String(length=20), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("code", Json, nullable=True),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("feature_importance", Json, nullable=True),
        sa.Column("artifact_ref", sa.String(length=1000), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("artifact_size", sa.BigInteger(), nullable=False),
        sa.Column("artifact_format", sa.String(length=60), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("artifact_time", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index("ix_model_versions_app_created", ["application", "created"], unique=False)
        batch_op.create_index("ix_model_versions_artifact_time", ["artifact_time", "id"], unique=False)
        batch_op.create_index("ix_model_versions_canonical_name", ["canonical_name", "id"], unique=False)
        batch_op.create_index("ix_model_versions_created", ["created", "id"], unique=False)
        batch_op.create_index("ix_model_versions_framework", ["framework", "created"], unique=False)
        batch_op.create_index("ix_model_versions_pipeline_run", ["pipeline_run_id"], unique=False)
        batch_op.create_index("ix_model_versions_version_number", ["version_number", "id"], unique=False)
        batch_op.create_index(
            "ux_model_versions_name_number", ["application", "canonical_name", "version_number"], unique=True
        )

    op.create_table(
        "model_aliases",
        sa.Column("application", sa.String(length=200), nullable=False),
        sa.Column("canonical_name", sa.String(length=500), nullable=False),
        sa.Column("alias", sa.String(length=100), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["model_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("application", "canonical_name", "alias"),
    )
    with op.batch_alter_table("model_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_aliases_version_id"), ["version_id"], unique=False)

    op.create_table(
        "model_tags",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["model_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", "key"),
    )
    with op.batch_alter_table("model_tags", schema=None) as batch_op:
        batch_op.create_index("ix_model_tags_key_value", ["key", "value", "version_id"], unique=False)

    # Keyword search is a substring match: a trigram index on PostgreSQL; on SQLite a covering index to walk
    # newest-first testing the text without reading the rows (a PostgreSQL btree row could not hold long text),
    # partial on a condition only keyword searches state (see tables.py).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("create extension if not exists pg_trgm")
        op.execute("create index ix_model_versions_search_trgm on model_versions using gin (search_text gin_trgm_ops)")
    else:
        op.create_index(
            "ix_model_versions_keyword",
            "model_versions",
            ["created", "id", "search_text"],
            sqlite_where=sa.text("search_text IS NOT NULL"),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("drop index if exists ix_model_versions_search_trgm")
    else:
        op.drop_index("ix_model_versions_keyword", table_name="model_versions")
    with op.batch_alter_table("model_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_model_tags_key_value")

    op.drop_table("model_tags")
    with op.batch_alter_table("model_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_aliases_version_id"))

    op.drop_table("model_aliases")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("ux_model_versions_name_number")
        batch_op.drop_index("ix_model_versions_version_number")
        batch_op.drop_index("ix_model_versions_canonical_name")
        batch_op.drop_index("ix_model_versions_artifact_time")
        batch_op.drop_index("ix_model_versions_pipeline_run")
        batch_op.drop_index("ix_model_versions_framework")
        batch_op.drop_index("ix_model_versions_created")
        batch_op.drop_index("ix_model_versions_app_created")

    op.drop_table("model_versions")
    op.drop_table("model_names")
