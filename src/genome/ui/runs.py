"""The Sequencer's run pages: runs listed and paged; one run drawn as its DAG of steps, which the page keeps current
while the run goes on (it polls the API's run, only while the run is unfinished and the tab visible), with its
attempts on a time line and the chosen attempt's log (paged, its tail, searched, followed while it runs); and the
form that starts a run from a pipeline's JSON, empty, from the seed's example or from an earlier run."""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from genome.errors import InvalidInput, NotFound
from genome.sequencer import logs, service
from genome.sequencer.schemas import RunRead, RunStatus
from genome.sequencer.spec import EXAMPLE
from genome.server.deps import Artifacts, Db, RuntimeDep, SettingsDep
from genome.ui import charts
from genome.ui.render import PageRoute, SignedIn, check_csrf, render
from genome.ui.timeline import timeline

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = 25
STATUSES = get_args(RunStatus)
# A page of log shown at once, and the "tail" view: enough to read, little enough for any browser.
LOG_PAGE = 256 * 1024
LOG_TAIL = 64 * 1024


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    db: Db,
    settings: SettingsDep,
    principal: SignedIn,
    application: str = "",
    status: str = "",
    pipeline: str = "",
    cursor: str = "",
    back: Annotated[list[str], Query()] = [],  # noqa: B006
) -> HTMLResponse:
    """Pipeline runs, newest first, a page at a time."""
    error: InvalidInput | None = None
    page = None
    try:
        if status and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}; got {status!r}", field="status")
        page = service.list_runs(
            db,
            principal,
            application=application or None,
            pipeline_id=pipeline or None,
            status=status or None,
            limit=PAGE,
            cursor=cursor or None,
            page_size_max=settings.page_size_max,
        )
    except InvalidInput as exc:
        error = exc
    form = {"application": application, "status": status, "pipeline": pipeline}
    return render(
        request,
        "runs.html",
        status=400 if error else 200,
        form=form,
        error=error,
        page=page,
        statuses=STATUSES,
        back=back,
        editor=any(principal.can(application, "editor") for application in principal.roles),
    )


def _log(
    db: Db,
    artifacts: Artifacts,
    settings: SettingsDep,
    principal: SignedIn,
    run: RunRead,
    step: str,
    attempt: int,
    view: dict[str, Any],
) -> dict[str, Any] | None:
    """What the log panel shows of the chosen attempt: a page (from ``offset``, or around ``line``), its tail, or
    the lines matching ``q``; or why there is no log yet."""
    chosen = next((item for item in run.steps if item.stepName == step), None)
    if chosen is None or not chosen.attempts:
        return None
    number = attempt or chosen.attempts[-1].number
    panel: dict[str, Any] = {"step": step, "attempt": number, **view}
    api = f"/v1.0/genome/compute/runs/{run.id}/steps/{step}/attempts/{number}/log"
    panel["api"] = api
    try:
        if view["q"]:
            panel["search"] = logs.search_log(
                db, artifacts, principal, run.id, step, number, view["q"], max_bytes=settings.step_log_max_bytes
            )
            return panel
        chunk = logs.read_log(
            db,
            artifacts,
            principal,
            run.id,
            step,
            number,
            view["offset"],
            tail=LOG_TAIL if view["tail"] else None,
            line=view["line"] or None,
            limit=LOG_PAGE,
        )
    except NotFound as exc:
        panel["missing"] = exc.message
        return panel
    lines = chunk.text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    panel.update(chunk=chunk, lines=list(enumerate(lines, start=chunk.line)))
    return panel


@router.get("/runs/new", response_class=HTMLResponse)
def new_run_page(request: Request, db: Db, principal: SignedIn, again: str = "", pipeline: str = "") -> HTMLResponse:
    """The form that starts a run: the seed's example, an earlier run's spec (``again``) or a stored pipeline's."""
    if again:
        spec = dict(service.get_run(db, principal, again).spec)
    elif pipeline:
        spec = dict(service.get_pipeline(db, principal, pipeline).spec)
    else:
        spec = dict(EXAMPLE)
    spec.pop("schedule", None)
    return render(request, "run_new.html", text=json.dumps(spec, indent=2), error=None, again=again)


def _parse(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the pipeline is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", field="spec"
        ) from None
    except RecursionError:
        raise InvalidInput("the pipeline is nested too deep to read", field="spec") from None
    if not isinstance(body, dict):
        raise InvalidInput("the pipeline must be a JSON object", field="spec")
    return body


@router.post("/runs/new", response_class=HTMLResponse, response_model=None)
def start_run(
    request: Request, runtime: RuntimeDep, spec: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
) -> HTMLResponse | RedirectResponse:
    principal = check_csrf(request, csrf)
    try:
        run = service.create_run(
            runtime.db, principal, _parse(spec), container_runtime=runtime.executor.container_runtime
        )
    except InvalidInput as error:
        return render(request, "run_new.html", status=400, text=spec, error=error, again="")
    if runtime.sequencer is not None:
        runtime.sequencer.wake()
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    run_id: str,
    db: Db,
    artifacts: Artifacts,
    settings: SettingsDep,
    principal: SignedIn,
    step: str = "",
    attempt: Annotated[int, Query(ge=0)] = 0,
    offset: Annotated[int, Query(ge=0)] = 0,
    line: Annotated[int, Query(ge=0)] = 0,
    tail: bool = False,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    run = service.get_run(db, principal, run_id)
    view = {"offset": offset, "line": line, "tail": tail, "q": q.strip()}
    log = _log(db, artifacts, settings, principal, run, step, attempt, view) if step else None
    return render(
        request,
        "run.html",
        run=run,
        dag=charts.dag(run.steps, link=f"/runs/{run.id}?step="),
        timeline=timeline(run, chosen=(log["step"], log["attempt"]) if log else None),
        states=charts.STEP_STATES,
        step=step,
        log=log,
        editor=principal.can(run.application, "editor"),
        live=run.status in ("queued", "running"),
    )


@router.post("/runs/{run_id}/cancel")
def cancel(request: Request, run_id: str, db: Db, csrf: Annotated[str, Form()]) -> RedirectResponse:
    principal = check_csrf(request, csrf)
    service.cancel_run(db, principal, run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
