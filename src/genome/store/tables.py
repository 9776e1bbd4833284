"""The metadata tables. Wire schemas live in each component's ``schemas.py``; these are storage only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AliasEvent",
    "Base",
    "Credential",
    "Deployment",
    "DeploymentVersion",
    "EvaluationRun",
    "EvaluationTask",
    "LoginFailures",
    "ModelAlias",
    "ModelName",
    "ModelTag",
    "ModelVersion",
    "Pipeline",
    "PipelineRun",
    "RunStep",
    "StepAttempt",
    "User",
    "UserRole",
]

Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class ModelName(Base):
    """One row per application + canonicalName; holds the counter that numbers its versions."""

    __tablename__ = "model_names"

    application: Mapped[str] = mapped_column(String(200), primary_key=True)
    canonical_name: Mapped[str] = mapped_column(String(500), primary_key=True)
    last_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application: Mapped[str] = mapped_column(String(200), nullable=False)
    canonical_name: Mapped[str] = mapped_column(String(500), nullable=False)
    version_number: Mapped[int] = mapped_column(Integer, nullable=False)
    version_name: Mapped[str | None] = mapped_column(String(200))
    pipeline_name: Mapped[str | None] = mapped_column(String(500))
    pipeline_run_id: Mapped[str | None] = mapped_column(String(200))
    pipeline_stage: Mapped[str | None] = mapped_column(String(200))
    framework: Mapped[str] = mapped_column(String(40), nullable=False)
    input_modality: Mapped[str] = mapped_column(String(20), nullable=False)
    prediction_type: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    intended_use: Mapped[str | None] = mapped_column(Text)
    code: Mapped[dict[str, Any] | None] = mapped_column(Json)
    parameters: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    feature_importance: Mapped[dict[str, Any] | None] = mapped_column(Json)
    artifact_ref: Mapped[str] = mapped_column(String(1000), nullable=False)
    artifact_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    artifact_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    artifact_format: Mapped[str] = mapped_column(String(60), nullable=False)
    # True when the bundle carries code (pickles beyond the trusted types): it is loaded only in the isolated worker.
    isolated: Mapped[bool | None] = mapped_column(Boolean)
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)
    artifact_time: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200))
    # Lower-cased names joined by newlines: what the free-text keyword search looks in.
    search_text: Mapped[str] = mapped_column(Text, nullable=False)

    tags: Mapped[list[ModelTag]] = relationship(
        back_populates="version", cascade="all, delete-orphan", lazy="selectin", order_by="ModelTag.key"
    )
    aliases: Mapped[list[ModelAlias]] = relationship(lazy="selectin", order_by="ModelAlias.alias")

    __table_args__ = (
        Index("ux_model_versions_name_number", "application", "canonical_name", "version_number", unique=True),
        # One index per sort key, ending in id like the search's ORDER BY, so a page is read in index order and
        # the scan stops once it is full (keyset cursors seek into the same index).
        Index("ix_model_versions_created", "created", "id"),
        Index("ix_model_versions_canonical_name", "canonical_name", "id"),
        Index("ix_model_versions_version_number", "version_number", "id"),
        Index("ix_model_versions_artifact_time", "artifact_time", "id"),
        Index("ix_model_versions_app_created", "application", "created"),
        Index("ix_model_versions_framework", "framework", "created"),
        Index("ix_model_versions_pipeline_run", "pipeline_run_id"),
        # Keyword search is a substring match. PostgreSQL answers it from a trigram index (the migration creates
        # the pg_trgm extension first). SQLite walks newest-first through this covering index and tests the text
        # there, without reading the wide rows; it is partial on a condition only keyword searches state, so no
        # other query walks this wider index instead of ix_model_versions_created.
        Index(
            "ix_model_versions_search_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_model_versions_keyword", "created", "id", "search_text", sqlite_where=text("search_text IS NOT NULL")
        ).ddl_if(dialect="sqlite"),
    )


class ModelTag(Base):
    __tablename__ = "model_tags"

    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000), nullable=False)

    version: Mapped[ModelVersion] = relationship(back_populates="tags")

    __table_args__ = (Index("ix_model_tags_key_value", "key", "value", "version_id"),)


class ModelAlias(Base):
    """A movable name (e.g. "production") for one version, unique per application + canonicalName."""

    __tablename__ = "model_aliases"

    application: Mapped[str] = mapped_column(String(200), primary_key=True)
    canonical_name: Mapped[str] = mapped_column(String(500), primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    updated: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AliasEvent(Base):
    """One move of an alias, kept for ever: which version it left and which it reached (null: removed), who moved
    it and when. Version numbers are copied in, so the ledger outlives deleted versions."""

    __tablename__ = "alias_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application: Mapped[str] = mapped_column(String(200), nullable=False)
    canonical_name: Mapped[str] = mapped_column(String(500), nullable=False)
    alias: Mapped[str] = mapped_column(String(100), nullable=False)
    version_id: Mapped[str | None] = mapped_column(String(32))
    version_number: Mapped[int | None] = mapped_column(Integer)
    previous_version_id: Mapped[str | None] = mapped_column(String(32))
    previous_version_number: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (Index("ix_alias_events_name", "application", "canonical_name", "at", "id"),)


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)

    roles: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.application"
    )


class UserRole(Base):
    """A user's role in one application (``*`` for all of them)."""

    __tablename__ = "user_roles"

    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"), primary_key=True)
    application: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False)


class Credential(Base):
    """An API token, a browser session or a pipeline run's token; only a hash of its secret is kept."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    csrf_hash: Mapped[str | None] = mapped_column(String(64))
    # A run token acts only in this application, with at most this role.
    scope_application: Mapped[str | None] = mapped_column(String(200))
    scope_role: Mapped[str | None] = mapped_column(String(20))
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires: Mapped[int | None] = mapped_column(BigInteger)
    last_used: Mapped[int | None] = mapped_column(BigInteger)
    revoked: Mapped[int | None] = mapped_column(BigInteger)


class LoginFailures(Base):
    """Failed logins per user and per client, to slow down password guessing."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    first_failure: Mapped[int] = mapped_column(BigInteger, nullable=False)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)


class EvaluationRun(Base):
    """One run of an evaluation (a test suite) against a model version.

    The target's name and number are copied in, so a run's history survives the version's deletion.
    """

    __tablename__ = "evaluation_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application: Mapped[str] = mapped_column(String(200), nullable=False)
    name: Mapped[str] = mapped_column(String(500), nullable=False)
    version_name: Mapped[str | None] = mapped_column(String(200))
    code: Mapped[dict[str, Any] | None] = mapped_column(Json)
    target_id: Mapped[str | None] = mapped_column(String(32))
    target_canonical_name: Mapped[str | None] = mapped_column(String(500))
    target_version_number: Mapped[int | None] = mapped_column(Integer)
    pipeline_name: Mapped[str | None] = mapped_column(String(500))
    pipeline_run_id: Mapped[str | None] = mapped_column(String(200))
    pipeline_stage: Mapped[str | None] = mapped_column(String(200))
    data_refs: Mapped[list[str]] = mapped_column(Json, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    summary: Mapped[dict[str, int]] = mapped_column(Json, nullable=False)
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200))

    tasks: Mapped[list[EvaluationTask]] = relationship(
        cascade="all, delete-orphan", lazy="raise", order_by="EvaluationTask.position"
    )

    __table_args__ = (
        Index("ix_evaluation_runs_created", "created", "id"),
        Index("ix_evaluation_runs_app_created", "application", "created", "id"),
        Index("ix_evaluation_runs_name_created", "name", "created", "id"),
        Index("ix_evaluation_runs_target", "target_id", "created", "id"),
        Index("ix_evaluation_runs_target_name", "target_canonical_name", "target_version_number"),
        Index("ix_evaluation_runs_pipeline_run", "pipeline_run_id"),
    )


class EvaluationTask(Base):
    """A task of a run, or one prototype (a named record checked within a task), in the order they ran."""

    __tablename__ = "evaluation_tasks"

    run_id: Mapped[str] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500), nullable=False)
    data_ref: Mapped[str | None] = mapped_column(String(2000))
    segment: Mapped[str | None] = mapped_column(String(500))
    prototype_ref: Mapped[str | None] = mapped_column(String(500))
    metrics: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    expectations: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Deployment(Base):
    """A named set of parameters per application (the seed's ``"deployment": "deploy-1"``), given to steps: its
    current version (``deployment_versions`` keeps every one)."""

    __tablename__ = "deployments"

    application: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    updated: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))


class DeploymentVersion(Base):
    """One change of a deployment, kept for ever: its parameters from then on, who made it and when. A deletion is
    a version too (``deleted``, with empty parameters), so the history says when a deployment stopped existing.
    The primary key numbers versions per deployment: two writers cannot both add the same number."""

    __tablename__ = "deployment_versions"

    application: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200))


class Pipeline(Base):
    """A stored pipeline spec, optionally on a schedule (``next_run`` is when it fires next)."""

    __tablename__ = "pipelines"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application: Mapped[str] = mapped_column(String(200), nullable=False)
    pipeline_name: Mapped[str] = mapped_column(String(500), nullable=False)
    canonical_name: Mapped[str | None] = mapped_column(String(500))
    deployment: Mapped[str | None] = mapped_column(String(200))
    version_name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    schedule: Mapped[str | None] = mapped_column(String(200))
    next_run: Mapped[int | None] = mapped_column(BigInteger)
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (
        Index("ix_pipelines_app_created", "application", "created", "id"),
        Index("ix_pipelines_created", "created", "id"),
        Index("ix_pipelines_due", "next_run"),
    )


class PipelineRun(Base):
    """One run of a pipeline: its spec as run, who owns it (the server driving it, renewing ``heartbeat``), and
    its outcome. ``scheduled_for`` is unique per pipeline, so one scheduled firing can never make two runs."""

    __tablename__ = "pipeline_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_id: Mapped[str | None] = mapped_column(String(32))
    scheduled_for: Mapped[int | None] = mapped_column(BigInteger)
    application: Mapped[str] = mapped_column(String(200), nullable=False)
    pipeline_name: Mapped[str] = mapped_column(String(500), nullable=False)
    canonical_name: Mapped[str | None] = mapped_column(String(500))
    deployment: Mapped[str | None] = mapped_column(String(200))
    # The deployment's version whose parameters the steps got (read when the run started; None: no deployment).
    deployment_version: Mapped[int | None] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False)
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat: Mapped[int | None] = mapped_column(BigInteger)
    credential_id: Mapped[str | None] = mapped_column(String(32))
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)
    started: Mapped[int | None] = mapped_column(BigInteger)
    finished: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)

    steps: Mapped[list[RunStep]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="RunStep.position"
    )

    __table_args__ = (
        UniqueConstraint("pipeline_id", "scheduled_for", name="ux_pipeline_runs_firing"),
        Index("ix_pipeline_runs_created", "created", "id"),
        Index("ix_pipeline_runs_app_created", "application", "created", "id"),
        Index("ix_pipeline_runs_pipeline", "pipeline_id", "created"),
        Index("ix_pipeline_runs_status", "status", "created"),
    )


class RunStep(Base):
    """A step of a run; ``group`` is its place in the sequence (steps of one group run in parallel)."""

    __tablename__ = "run_steps"

    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), primary_key=True)
    step_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    group: Mapped[int] = mapped_column(Integer, nullable=False)
    step_type: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)

    attempts: Mapped[list[StepAttempt]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="StepAttempt.number"
    )


class StepAttempt(Base):
    """One try of a step: when, how it ended, and where its process and log are."""

    __tablename__ = "step_attempts"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    step_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(BigInteger, nullable=False)
    end: Mapped[int | None] = mapped_column(BigInteger)
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_start: Mapped[str | None] = mapped_column(String(40))
    log_path: Mapped[str | None] = mapped_column(String(2000))
    log_ref: Mapped[str | None] = mapped_column(String(1000))
    log_sha256: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        ForeignKeyConstraint(["run_id", "step_name"], ["run_steps.run_id", "run_steps.step_name"], ondelete="CASCADE"),
    )
