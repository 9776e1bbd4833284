"""Sequencer records: store pipelines, queue runs, read runs, cancel (logs: ``genome.sequencer.logs``;
deployments: ``genome.sequencer.deployments``).

These functions only read and write the database; the engine (``genome.sequencer.engine``) claims queued runs
and drives them. Each function owns its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, get_args

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from genome.auth.principal import Principal
from genome.clock import now_ms
from genome.errors import Conflict, InvalidInput
from genome.sequencer.schedule import parse_schedule
from genome.sequencer.schemas import (
    RECENT_RUNS,
    AttemptRead,
    PipelinePage,
    PipelineRead,
    PipelineStatus,
    RunPage,
    RunRead,
    RunSummary,
    StepRead,
)
from genome.sequencer.spec import PipelineSpec, parse_pipeline
from genome.store.db import Database
from genome.store.pagination import fetch_page
from genome.store.tables import Pipeline, PipelineRun, RunStep, StepAttempt

__all__ = [
    "FINISHED",
    "cancel_run",
    "create_pipeline",
    "create_run",
    "delete_pipeline",
    "get_pipeline",
    "get_run",
    "list_pipelines",
    "list_runs",
    "new_run",
    "set_paused",
]

FINISHED = ("succeeded", "failed", "cancelled", "skipped")


def _attempt_read(attempt: StepAttempt) -> AttemptRead:
    return AttemptRead(
        number=attempt.number,
        status=attempt.status,  # type: ignore[arg-type]
        reason=attempt.reason,  # type: ignore[arg-type]
        message=attempt.message,
        exitCode=attempt.exit_code,
        start=attempt.start,
        end=attempt.end,
        host=attempt.host,
    )


def run_read(row: PipelineRun) -> RunRead:
    return RunRead(
        id=row.id,
        pipelineId=row.pipeline_id,
        scheduledFor=row.scheduled_for,
        application=row.application,
        pipelineName=row.pipeline_name,
        canonicalName=row.canonical_name,
        deployment=row.deployment,
        deploymentVersion=row.deployment_version,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason,
        cancelRequested=row.cancel_requested,
        created=row.created,
        started=row.started,
        finished=row.finished,
        createdBy=row.created_by,
        steps=[
            StepRead(
                stepName=step.step_name,
                stepType=step.step_type,
                group=step.group,
                status=step.status,  # type: ignore[arg-type]
                attempts=[_attempt_read(attempt) for attempt in step.attempts],
            )
            for step in row.steps
        ],
        spec=row.spec,
    )


def pipeline_read(row: Pipeline, recent_runs: Sequence[RunSummary] = ()) -> PipelineRead:
    return PipelineRead(
        id=row.id,
        application=row.application,
        pipelineName=row.pipeline_name,
        canonicalName=row.canonical_name,
        deployment=row.deployment,
        versionName=row.version_name,
        schedule=row.schedule,
        nextRun=row.next_run,
        paused=row.paused,
        status="unscheduled" if row.schedule is None else "paused" if row.paused else "scheduled",
        created=row.created,
        createdBy=row.created_by,
        spec=row.spec,
        recentRuns=list(recent_runs),
    )


def new_run(
    spec: PipelineSpec, created_by: str, *, pipeline_id: str | None = None, scheduled_for: int | None = None
) -> PipelineRun:
    """A queued run of ``spec`` with its steps pending (not yet added to a session)."""
    row = PipelineRun(
        id=uuid.uuid4().hex,
        pipeline_id=pipeline_id,
        scheduled_for=scheduled_for,
        application=spec.application,
        pipeline_name=spec.pipelineName,
        canonical_name=spec.canonicalName,
        deployment=spec.deployment,
        spec=spec.to_dict(),
        status="queued",
        cancel_requested=False,
        created=now_ms(),
        created_by=created_by,
    )
    position = 0
    for group, steps in enumerate(spec.groups):
        for step in steps:
            row.steps.append(
                RunStep(
                    step_name=step.stepName, position=position, group=group, step_type=step.stepType, status="pending"
                )
            )
            position += 1
    return row


def create_run(db: Database, principal: Principal, body: dict[str, Any], *, container_runtime: bool) -> RunRead:
    """Queue a run (editors of its application): of the inline spec in ``body`` (the seed's form), or of the
    stored pipeline ``body["pipelineId"]``."""
    if "pipelineId" in body:
        extra = sorted(set(body) - {"pipelineId"})
        if extra:
            raise InvalidInput(f"a run of a stored pipeline takes only pipelineId; got also {extra}", field=extra[0])
        with db.read() as session:
            stored = _get_pipeline(session, principal, str(body["pipelineId"]))
            body, pipeline_id = dict(stored.spec), stored.id
    else:
        pipeline_id = None
    spec = parse_pipeline(body, container_runtime=container_runtime)
    principal.require(spec.application, "editor")
    with db.write() as session:
        row = new_run(spec, principal.username, pipeline_id=pipeline_id)
        session.add(row)
        session.flush()
        return run_read(row)


def create_pipeline(
    db: Database, principal: Principal, body: dict[str, Any], *, container_runtime: bool
) -> PipelineRead:
    """Store a pipeline (editors); with a ``schedule`` it first runs one period after now."""
    spec = parse_pipeline(body, container_runtime=container_runtime)
    principal.require(spec.application, "editor")
    created = now_ms()
    next_run = parse_schedule(spec.schedule).first_run(created) if spec.schedule else None
    row = Pipeline(
        id=uuid.uuid4().hex,
        application=spec.application,
        pipeline_name=spec.pipelineName,
        canonical_name=spec.canonicalName,
        deployment=spec.deployment,
        version_name=spec.versionName,
        spec=spec.to_dict(),
        schedule=spec.schedule,
        next_run=next_run,
        paused=False,
        created=created,
        created_by=principal.username,
    )
    with db.write() as session:
        session.add(row)
        session.flush()
        return pipeline_read(row)


def _get_pipeline(session: Session, principal: Principal, pipeline_id: str, role: str = "viewer") -> Pipeline:
    return principal.fetch(session, Pipeline, pipeline_id, f"pipeline {pipeline_id!r}", field="pipelineId", role=role)


def get_pipeline(db: Database, principal: Principal, pipeline_id: str) -> PipelineRead:
    with db.read() as session:
        row = _get_pipeline(session, principal, pipeline_id)
        return pipeline_read(row, _recent_runs(session, [row.id])[row.id])


# Parts of one UNION ALL: well under SQLite's limit of 500 compound terms.
_UNION_PARTS = 100
PIPELINE_STATUSES: tuple[str, ...] = get_args(PipelineStatus)
_STATUS_WHERE = {
    "scheduled": (Pipeline.schedule.is_not(None), Pipeline.paused.is_(False)),
    "paused": (Pipeline.schedule.is_not(None), Pipeline.paused.is_(True)),
    "unscheduled": (Pipeline.schedule.is_(None),),
}
_MAX_NAME = 500


def _recent_runs(session: Session, pipeline_ids: Sequence[str]) -> dict[str, list[RunSummary]]:
    """The latest runs of each pipeline, newest first, in one statement for a page of pipelines: a UNION ALL of one
    ``LIMIT`` per pipeline, each a short seek in the (pipeline_id, created) index however many runs a pipeline has
    had (a window over all their runs would read every one)."""
    found: dict[str, list[RunSummary]] = {pipeline_id: [] for pipeline_id in pipeline_ids}
    columns = (PipelineRun.pipeline_id, PipelineRun.id, PipelineRun.status, PipelineRun.created, PipelineRun.finished)
    ids = list(found)
    for start in range(0, len(ids), _UNION_PARTS):
        parts = [
            select(*columns)
            .where(PipelineRun.pipeline_id == pipeline_id)
            .order_by(PipelineRun.created.desc(), PipelineRun.id.desc())
            .limit(RECENT_RUNS)
            .subquery()
            for pipeline_id in ids[start : start + _UNION_PARTS]
        ]
        rows = session.execute(union_all(*(select(part) for part in parts))).all()
        for pipeline_id, run_id, status, created, finished in sorted(rows, key=lambda row: (-row[3], row[1])):
            found[pipeline_id].append(RunSummary(id=run_id, status=status, created=created, finished=finished))
    return found


def list_pipelines(
    db: Database,
    principal: Principal,
    *,
    application: str | None = None,
    name: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    page_size_max: int,
) -> PipelinePage:
    """Stored pipelines the principal may see, newest first, each with its latest runs.

    Args:
        application: only this application's pipelines.
        name: only pipelines whose ``pipelineName`` holds this text, ignoring case.
        status: only ``scheduled`` pipelines (a schedule that fires), ``paused`` ones (a schedule, paused) or
            ``unscheduled`` ones (no schedule: they run when asked).
    """
    _check_limit(limit, page_size_max)
    query = principal.only_readable(select(Pipeline), Pipeline.application)
    if application is not None:
        query = query.where(Pipeline.application == application)
    if name is not None:
        if not 1 <= len(name) <= _MAX_NAME:
            raise InvalidInput(f"name must be 1 to {_MAX_NAME} characters; got {len(name)}", field="name")
        pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Pipeline.pipeline_name.ilike(f"%{pattern}%", escape="\\"))
    if status is not None:
        if status not in _STATUS_WHERE:
            raise InvalidInput(f"status must be one of {', '.join(PIPELINE_STATUSES)}; got {status!r}", field="status")
        query = query.where(*_STATUS_WHERE[status])
    with db.read() as session:
        page, next_cursor = fetch_page(
            session, query, Pipeline.created, Pipeline.id, sort="-created", cursor=cursor, limit=limit
        )
        recent = _recent_runs(session, [row.id for row in page])
        return PipelinePage(items=[pipeline_read(row, recent[row.id]) for row in page], nextCursor=next_cursor)


def set_paused(db: Database, principal: Principal, pipeline_id: str, paused: bool) -> PipelineRead:
    """Pause or resume a schedule. Resuming after a pause fires once for what was missed, then keeps the phase."""
    with db.write() as session:
        row = _get_pipeline(session, principal, pipeline_id, "editor")
        if row.schedule is None:
            raise InvalidInput(f"pipeline {pipeline_id!r} has no schedule to pause or resume", field="schedule")
        row.paused = paused
        session.flush()
        return pipeline_read(row, _recent_runs(session, [row.id])[row.id])


def delete_pipeline(db: Database, principal: Principal, pipeline_id: str) -> None:
    """Forget a pipeline and its schedule; its runs stay, as history."""
    with db.write() as session:
        session.delete(_get_pipeline(session, principal, pipeline_id, "editor"))


def _get_run(
    session: Session, principal: Principal, run_id: str, role: str = "viewer", *, lock: bool = False
) -> PipelineRun:
    # Locking the row makes a cancel wait for a server claiming the run at that moment (and the reverse).
    return principal.fetch(session, PipelineRun, run_id, f"pipeline run {run_id!r}", role=role, with_for_update=lock)


def get_run(db: Database, principal: Principal, run_id: str) -> RunRead:
    with db.read() as session:
        return run_read(_get_run(session, principal, run_id))


def _check_limit(limit: int, page_size_max: int) -> None:
    if limit > page_size_max:
        raise InvalidInput(f"limit {limit} is above the maximum page size {page_size_max}", field="limit")


def list_runs(
    db: Database,
    principal: Principal,
    *,
    application: str | None = None,
    pipeline_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    page_size_max: int,
) -> RunPage:
    """Runs the principal may see, newest first."""
    _check_limit(limit, page_size_max)
    query = principal.only_readable(select(PipelineRun), PipelineRun.application)
    for column, value in (
        (PipelineRun.application, application),
        (PipelineRun.pipeline_id, pipeline_id),
        (PipelineRun.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    with db.read() as session:
        page, next_cursor = fetch_page(
            session, query, PipelineRun.created, PipelineRun.id, sort="-created", cursor=cursor, limit=limit
        )
        return RunPage(items=[run_read(row) for row in page], nextCursor=next_cursor)


def cancel_run(db: Database, principal: Principal, run_id: str) -> RunRead:
    """Cancel a run (editors): a queued run at once; a running one as soon as its server sees the request, which
    ends its steps' process trees. A finished run cannot be cancelled (409)."""
    with db.write() as session:
        row = _get_run(session, principal, run_id, "editor", lock=True)
        if row.status in FINISHED:
            raise Conflict(f"pipeline run {run_id!r} has already {row.status}", field="status")
        row.cancel_requested = True
        if row.status == "queued":
            row.status, row.reason, row.finished = "cancelled", "cancelled before it started", now_ms()
            for step in row.steps:
                if step.status == "pending":
                    step.status = "cancelled"
        session.flush()
        return run_read(row)
