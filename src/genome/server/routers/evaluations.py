"""Evaluation Store routes: thin wrappers over ``genome.evaluations.service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from genome.evaluations import service
from genome.evaluations.schemas import (
    EvaluationDiff,
    EvaluationHistory,
    EvaluationRunCreate,
    EvaluationRunPage,
    EvaluationRunRead,
    Status,
)
from genome.server.deps import RUN_TOKENS_ALLOWED, CurrentPrincipal, Db, SettingsDep

router = APIRouter(prefix="/evaluations", tags=["evaluations"])

Text = Annotated[str | None, Query(min_length=1, max_length=500)]
Ms = Annotated[int | None, Query(ge=0, description="ms since epoch, inclusive")]


@router.post("/runs", status_code=status.HTTP_201_CREATED, dependencies=[RUN_TOKENS_ALLOWED])
def create_run(db: Db, principal: CurrentPrincipal, run: EvaluationRunCreate) -> EvaluationRunRead:
    """Store a finished evaluation run with its tasks (what ``GenomeEvaluationRun.to_run()`` sends)."""
    return service.create_run(db, principal, run)


@router.get("/runs", dependencies=[RUN_TOKENS_ALLOWED])
def search_runs(
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    application: Text = None,
    name: Text = None,
    target: Annotated[
        str | None, Query(min_length=1, max_length=500, description="A model version id, or a model's canonicalName.")
    ] = None,
    status: Status | None = None,
    pipelineRunId: Text = None,
    createdAfter: Ms = None,
    createdBefore: Ms = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> EvaluationRunPage:
    """Runs, newest first, filtered by application, evaluation name, target model, status, pipeline run or time."""
    return service.search_runs(
        db,
        principal,
        application=application,
        name=name,
        target=target,
        status=status,
        pipeline_run_id=pipelineRunId,
        created_after=createdAfter,
        created_before=createdBefore,
        limit=limit,
        cursor=cursor,
        page_size_max=settings.page_size_max,
    )


@router.get("/runs/{run_id}", dependencies=[RUN_TOKENS_ALLOWED])
def get_run(db: Db, principal: CurrentPrincipal, run_id: str) -> EvaluationRunRead:
    return service.get_run(db, principal, run_id)


@router.get("/runs/{run_id}/diff/{base_id}", dependencies=[RUN_TOKENS_ALLOWED])
def diff_runs(db: Db, principal: CurrentPrincipal, run_id: str, base_id: str) -> EvaluationDiff:
    """What changed from run ``base_id`` to run ``run_id``: flipped tasks, metric deltas, added and removed tasks."""
    return service.diff_runs(db, principal, base_id, run_id)


@router.get("/history", dependencies=[RUN_TOKENS_ALLOWED])
def history(
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    application: Annotated[str, Query(min_length=1, max_length=200)],
    name: Annotated[str, Query(min_length=1, max_length=500, description="The evaluation's name.")],
    canonicalName: Annotated[str, Query(min_length=1, max_length=500, description="The model's canonicalName.")],
    limit: Annotated[int, Query(ge=1)] = 100,
    cursor: Annotated[int | None, Query(ge=0, description="nextCursor of the previous page")] = None,
) -> EvaluationHistory:
    """One evaluation across the versions of one model: the latest run on each version, with its metrics."""
    return service.history(
        db,
        principal,
        application=application,
        name=name,
        canonical_name=canonicalName,
        limit=limit,
        after_version=cursor,
        page_size_max=settings.page_size_max,
    )
