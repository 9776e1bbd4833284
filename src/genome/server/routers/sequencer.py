"""Compute and Sequencer routes (the seed's ``/compute/sequencer``): thin wrappers over
``genome.sequencer.service``; the engine running in each server picks the runs up."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from genome.sequencer import logs, service
from genome.sequencer.schemas import (
    LogChunk,
    LogSearch,
    PipelinePage,
    PipelineRead,
    PipelineStatus,
    RunPage,
    RunRead,
    RunStatus,
)
from genome.sequencer.spec import EXAMPLE
from genome.server.deps import RUN_TOKEN_OWN_RUN, Artifacts, CurrentPrincipal, Db, RuntimeDep, SettingsDep

router = APIRouter(prefix="/compute", tags=["compute"])

PipelineBody = Annotated[
    dict[str, Any],
    Body(
        description="A pipeline: application, pipelineName, optional canonicalName, deployment, versionName, "
        "parameters and (stored pipelines) schedule, and steps; a nested list of steps is a parallel group. "
        "Each step: stepName, stepType, command and/or image, parameters, datasets, timeout, retry, resources.",
        openapi_examples={"seed": {"summary": "the seed's pipeline, with a command to run here", "value": EXAMPLE}},
    ),
]
Text = Annotated[str | None, Query(min_length=1, max_length=500)]


@router.post("/sequencer/run", status_code=status.HTTP_201_CREATED)
def run_pipeline(runtime: RuntimeDep, principal: CurrentPrincipal, body: PipelineBody) -> RunRead:
    """Run a pipeline now: the inline spec, or ``{"pipelineId": ...}`` for a stored one. Answers with the queued run."""
    run = service.create_run(runtime.db, principal, body, container_runtime=runtime.executor.container_runtime)
    if runtime.sequencer is not None:
        runtime.sequencer.wake()
    return run


@router.post("/sequencer", status_code=status.HTTP_201_CREATED)
def store_pipeline(runtime: RuntimeDep, principal: CurrentPrincipal, body: PipelineBody) -> PipelineRead:
    """Store a pipeline, optionally on a ``schedule`` ("30m", "6h", "1d" or a cron expression): it first runs one
    period after now (``nextRun``)."""
    return service.create_pipeline(runtime.db, principal, body, container_runtime=runtime.executor.container_runtime)


@router.get("/pipelines")
def list_pipelines(
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    application: Text = None,
    name: Annotated[
        str | None, Query(min_length=1, max_length=500, description="Text the name holds (any case).")
    ] = None,
    status: Annotated[
        PipelineStatus | None,
        Query(description="scheduled (its schedule fires), paused (a schedule, paused), unscheduled (no schedule)."),
    ] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> PipelinePage:
    """Stored pipelines, newest first, each with its latest runs' statuses; filtered by application, by text in
    ``pipelineName`` and by status."""
    return service.list_pipelines(
        db,
        principal,
        application=application,
        name=name,
        status=status,
        limit=limit,
        cursor=cursor,
        page_size_max=settings.page_size_max,
    )


@router.get("/pipelines/{pipeline_id}")
def get_pipeline(db: Db, principal: CurrentPrincipal, pipeline_id: str) -> PipelineRead:
    return service.get_pipeline(db, principal, pipeline_id)


@router.post("/pipelines/{pipeline_id}/pause")
def pause_pipeline(db: Db, principal: CurrentPrincipal, pipeline_id: str) -> PipelineRead:
    return service.set_paused(db, principal, pipeline_id, True)


@router.post("/pipelines/{pipeline_id}/resume")
def resume_pipeline(db: Db, principal: CurrentPrincipal, pipeline_id: str) -> PipelineRead:
    return service.set_paused(db, principal, pipeline_id, False)


@router.delete("/pipelines/{pipeline_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_pipeline(db: Db, principal: CurrentPrincipal, pipeline_id: str) -> Response:
    service.delete_pipeline(db, principal, pipeline_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/runs")
def list_runs(
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    application: Text = None,
    pipelineId: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> RunPage:
    """Runs, newest first."""
    return service.list_runs(
        db,
        principal,
        application=application,
        pipeline_id=pipelineId,
        status=status,
        limit=limit,
        cursor=cursor,
        page_size_max=settings.page_size_max,
    )


@router.get("/runs/{run_id}", dependencies=[RUN_TOKEN_OWN_RUN], response_model=RunRead)
def get_run(request: Request, db: Db, principal: CurrentPrincipal, run_id: str) -> Response:
    """A run with each step's status and every attempt (start, end, exit code, reason). It carries an ETag: a poll
    sending it back as If-None-Match gets an empty 304 while nothing changed."""
    body = service.get_run(db, principal, run_id).model_dump_json().encode()
    etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.post("/runs/{run_id}/cancel")
def cancel_run(runtime: RuntimeDep, principal: CurrentPrincipal, run_id: str) -> RunRead:
    """Cancel a run: steps not started are cancelled, running ones have their process trees ended."""
    run = service.cancel_run(runtime.db, principal, run_id)
    if runtime.sequencer is not None:
        runtime.sequencer.wake()
    return run


_LOG = "/runs/{run_id}/steps/{step_name}/attempts/{number}/log"


@router.get(_LOG, dependencies=[RUN_TOKEN_OWN_RUN])
def read_log(
    db: Db,
    artifacts: Artifacts,
    principal: CurrentPrincipal,
    run_id: str,
    step_name: str,
    number: int,
    offset: Annotated[int, Query(ge=0)] = 0,
    tail: Annotated[
        int | None, Query(ge=1, le=logs.PAGE_BYTES, description="Only the last bytes (whole lines).")
    ] = None,
) -> LogChunk:
    """An attempt's stdout and stderr from byte ``offset`` (or its ``tail``), up to 1 MiB ending with a whole line;
    poll with ``nextOffset`` to follow a running step."""
    return logs.read_log(db, artifacts, principal, run_id, step_name, number, offset, tail=tail)


@router.get(f"{_LOG}/search", dependencies=[RUN_TOKEN_OWN_RUN])
def search_log(
    db: Db,
    artifacts: Artifacts,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    run_id: str,
    step_name: str,
    number: int,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Text to look for, ignoring case.")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> LogSearch:
    """The log's lines holding ``q``: all counted, the first ``limit`` returned with their line numbers. A running
    attempt's log longer than the server keeps is searched near its end only (``searchedFrom``)."""
    return logs.search_log(
        db, artifacts, principal, run_id, step_name, number, q, max_bytes=settings.step_log_max_bytes, limit=limit
    )


@router.get(f"{_LOG}/download", dependencies=[RUN_TOKEN_OWN_RUN], response_class=StreamingResponse)
def download_log(
    db: Db,
    artifacts: Artifacts,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    run_id: str,
    step_name: str,
    number: int,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="Only the lines holding it.")] = None,
) -> StreamingResponse:
    """The whole log as a text file, or only its lines holding ``q``."""
    chunks = logs.stream_log(
        db, artifacts, principal, run_id, step_name, number, q, max_bytes=settings.step_log_max_bytes
    )
    name = f"{run_id}-{step_name}-{number}{'-filtered' if q else ''}.log"
    return StreamingResponse(
        chunks,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
