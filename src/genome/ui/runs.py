"""The Sequencer's run pages: runs listed and paged, and one run drawn as its DAG of steps, which the page keeps
current while the run goes on (it polls the API's run, only while the run is unfinished and the tab visible), with
each step's attempts and logs."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from genome.errors import InvalidInput, NotFound
from genome.sequencer import service
from genome.sequencer.schemas import RunRead, RunStatus
from genome.server.deps import Artifacts, Db, SettingsDep
from genome.ui import charts
from genome.ui.render import PageRoute, SignedIn, check_csrf, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = 25
STATUSES = get_args(RunStatus)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    db: Db,
    settings: SettingsDep,
    principal: SignedIn,
    application: str = "",
    status: str = "",
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
            status=status or None,
            limit=PAGE,
            cursor=cursor or None,
            page_size_max=settings.page_size_max,
        )
    except InvalidInput as exc:
        error = exc
    form = {"application": application, "status": status}
    return render(
        request,
        "runs.html",
        status=400 if error else 200,
        form=form,
        error=error,
        page=page,
        statuses=STATUSES,
        back=back,
    )


def _log(
    db: Db, artifacts: Artifacts, principal: SignedIn, run: RunRead, step: str, attempt: int, offset: int
) -> dict[str, object] | None:
    """The chosen attempt's log from ``offset`` (a page of up to 1 MiB), or why there is none yet."""
    chosen = next((item for item in run.steps if item.stepName == step), None)
    if chosen is None or not chosen.attempts:
        return None
    number = attempt or chosen.attempts[-1].number
    try:
        chunk = service.read_log(db, artifacts, principal, run.id, step, number, offset)
    except NotFound as exc:
        return {"step": step, "attempt": number, "missing": exc.message}
    return {"step": step, "attempt": number, "chunk": chunk}


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    run_id: str,
    db: Db,
    artifacts: Artifacts,
    principal: SignedIn,
    step: str = "",
    attempt: Annotated[int, Query(ge=0)] = 0,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    run = service.get_run(db, principal, run_id)
    log = _log(db, artifacts, principal, run, step, attempt, offset) if step else None
    return render(
        request,
        "run.html",
        run=run,
        dag=charts.dag(run.steps, link=f"/runs/{run.id}?step="),
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
