"""The Sequencer's pipeline pages: stored pipelines searched by name, application and status with their schedules in
words and their latest runs; one pipeline with its spec, its next runs, its steps drawn as a DAG and its recent
runs, and (editors) pause, resume, run now and delete."""

from __future__ import annotations

import re
import shlex
from pathlib import PurePath
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from genome.errors import InvalidInput
from genome.sequencer import service
from genome.sequencer.schedule import parse_schedule
from genome.sequencer.schemas import PipelineRead, PipelineStatus
from genome.server.deps import Db, RuntimeDep, SettingsDep
from genome.ui import charts
from genome.ui.render import PageRoute, SignedIn, check_csrf, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = 25
NEXT_RUNS = 5
RECENT = 10
STATUSES = get_args(PipelineStatus)
# A pipeline's state and a run's status as an icon beside the word, so colour never carries them alone.
STATES = {"scheduled": "▶", "paused": "‖", "unscheduled": "○"}
RUN_ICONS = {status: icon for status, (_, icon) in charts.STEP_STATES.items()} | {"queued": "○"}


def _words(pipeline: PipelineRead) -> str:
    return parse_schedule(pipeline.schedule).describe() if pipeline.schedule else "no schedule: runs when asked"


@router.get("/pipelines", response_class=HTMLResponse)
def pipelines_page(
    request: Request,
    db: Db,
    settings: SettingsDep,
    principal: SignedIn,
    name: str = "",
    application: str = "",
    status: str = "",
    cursor: str = "",
    back: Annotated[list[str], Query()] = [],  # noqa: B006
) -> HTMLResponse:
    """Stored pipelines matching the form, newest first, a page at a time (earlier cursors kept in ``back``)."""
    error: InvalidInput | None = None
    page = None
    try:
        page = service.list_pipelines(
            db,
            principal,
            application=application or None,
            name=name or None,
            status=status or None,
            limit=PAGE,
            cursor=cursor or None,
            page_size_max=settings.page_size_max,
        )
    except InvalidInput as exc:
        error = exc
    return render(
        request,
        "pipelines.html",
        status=400 if error else 200,
        form={"name": name, "application": application, "status": status},
        error=error,
        page=page,
        words={item.id: _words(item) for item in page.items} if page else {},
        statuses=STATUSES,
        states=STATES,
        run_icons=RUN_ICONS,
        back=back,
    )


def _duration(seconds: float) -> str:
    """A step's timeout as the spec would write it: "6m", "1h30m", "7.5s"."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest, parts = int(seconds), []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


_PLAIN_ARG = re.compile(r"[\w@%+=:,./-]+")
_SPECIAL_IN_QUOTES = re.compile(r'["$`\\]')


def _quote(arg: str) -> str:
    """An argument as a shell would read it, in double quotes when that needs no escapes (easier to read)."""
    if _PLAIN_ARG.fullmatch(arg):
        return arg
    return f'"{arg}"' if not _SPECIAL_IN_QUOTES.search(arg) else shlex.quote(arg)


def _command(step: dict[str, Any], *, short: bool = False) -> str:
    """A step's command line; ``short``: the program by its name only (a box has little room for its folder)."""
    command = step.get("command")
    if isinstance(command, list):
        program = PurePath(command[0]).name if short else command[0]
        return " ".join(_quote(arg) for arg in [program, *command[1:]])
    return command or ""


def step_box(step: dict[str, Any]) -> charts.DagBox:
    """A step of a stored spec as a box of its DAG: name, type, command or image, timeout and retry."""
    command, image = _command(step, short=True), step.get("image")
    timeout = f"timeout {_duration(step['timeout'])}" if step.get("timeout") else "no timeout"
    retry = f"retry {step.get('retry', 0)}" if step.get("retry") else "no retry"
    runs = f"image {image}: {command}" if image and command else f"image {image}" if image else command
    return charts.DagBox(
        name=step["stepName"],
        lines=((step.get("stepType", "model"), "meta"), (runs, "code"), (f"{timeout} · {retry}", "meta")),
        tooltip=f"{step['stepName']} ({step.get('stepType', 'model')}): {runs}; {timeout}, {retry}",
    )


def groups(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """A spec's steps in run order, each group a list of steps that run in parallel (a lone step: a group of one)."""
    return [element if isinstance(element, list) else [element] for element in spec.get("steps", [])]


def spec_dag(spec: dict[str, Any]) -> Any:
    """A stored pipeline's steps as a DAG: its groups left to right, a parallel group's steps side by side."""
    columns = [[step_box(step) for step in group] for group in groups(spec)]
    described = "; then ".join(" with ".join(box.name for box in column) for column in columns)
    return charts.flow(
        columns,
        title="The pipeline's steps",
        description=f"Steps in run order, parallel ones stacked: {described}.",
        box_width=240,
    )


@router.get("/pipelines/{pipeline_id}", response_class=HTMLResponse)
def pipeline_page(
    request: Request, pipeline_id: str, db: Db, settings: SettingsDep, principal: SignedIn
) -> HTMLResponse:
    pipeline = service.get_pipeline(db, principal, pipeline_id)
    upcoming: list[int] = []
    if pipeline.status == "scheduled" and pipeline.schedule and pipeline.nextRun is not None:
        upcoming = parse_schedule(pipeline.schedule).upcoming(pipeline.nextRun, NEXT_RUNS)
    runs = service.list_runs(db, principal, pipeline_id=pipeline.id, limit=RECENT, page_size_max=settings.page_size_max)
    steps = [
        {"step": step, "group": index, "command": _command(step), "parallel": len(group) > 1}
        for index, group in enumerate(groups(pipeline.spec))
        for step in group
    ]
    return render(
        request,
        "pipeline.html",
        pipeline=pipeline,
        words=_words(pipeline),
        upcoming=upcoming,
        dag=spec_dag(pipeline.spec),
        steps=steps,
        duration=_duration,
        runs=runs,
        states=STATES,
        editor=principal.can(pipeline.application, "editor"),
    )


@router.post("/pipelines/{pipeline_id}/pause")
def pause(request: Request, pipeline_id: str, db: Db, csrf: Annotated[str, Form()]) -> RedirectResponse:
    service.set_paused(db, check_csrf(request, csrf), pipeline_id, True)
    return RedirectResponse(f"/pipelines/{pipeline_id}", status_code=303)


@router.post("/pipelines/{pipeline_id}/resume")
def resume(request: Request, pipeline_id: str, db: Db, csrf: Annotated[str, Form()]) -> RedirectResponse:
    service.set_paused(db, check_csrf(request, csrf), pipeline_id, False)
    return RedirectResponse(f"/pipelines/{pipeline_id}", status_code=303)


@router.post("/pipelines/{pipeline_id}/run")
def run_now(request: Request, pipeline_id: str, runtime: RuntimeDep, csrf: Annotated[str, Form()]) -> RedirectResponse:
    """Queue a run of the stored pipeline (editors) and follow it on its page."""
    principal = check_csrf(request, csrf)
    run = service.create_run(
        runtime.db, principal, {"pipelineId": pipeline_id}, container_runtime=runtime.executor.container_runtime
    )
    if runtime.sequencer is not None:
        runtime.sequencer.wake()
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/pipelines/{pipeline_id}/delete")
def delete(
    request: Request, pipeline_id: str, db: Db, csrf: Annotated[str, Form()], confirm: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """Delete the pipeline and its schedule (editors), once its name was typed to confirm; its runs stay."""
    principal = check_csrf(request, csrf)
    pipeline = service.get_pipeline(db, principal, pipeline_id)
    principal.require(pipeline.application, "editor")
    if confirm.strip() != pipeline.pipelineName:
        raise InvalidInput(f"type {pipeline.pipelineName!r} to confirm the deletion", field="confirm")
    service.delete_pipeline(db, principal, pipeline_id)
    return RedirectResponse("/pipelines", status_code=303)
