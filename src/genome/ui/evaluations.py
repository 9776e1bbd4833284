"""The Evaluation Store's pages: runs searched and paged, one run with its tasks, two runs compared, and an
evaluation's history across a model's versions. Each view reads ``genome.evaluations.service`` as the signed-in
principal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from genome.errors import InvalidInput
from genome.evaluations import service
from genome.evaluations.statuses import STATUSES
from genome.server.deps import Db, SettingsDep
from genome.ui import charts
from genome.ui.render import PageRoute, SignedIn, day, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = 25


@router.get("/evaluations", response_class=HTMLResponse)
def runs_page(
    request: Request,
    db: Db,
    settings: SettingsDep,
    principal: SignedIn,
    application: str = "",
    name: str = "",
    target: str = "",
    status: str = "",
    createdFrom: str = "",
    createdTo: str = "",
    cursor: str = "",
    back: Annotated[list[str], Query()] = [],  # noqa: B006
) -> HTMLResponse:
    """Evaluation runs matching the form, newest first, a page at a time (earlier cursors kept in ``back``)."""
    form = {
        "application": application,
        "name": name,
        "target": target,
        "status": status,
        "createdFrom": createdFrom,
        "createdTo": createdTo,
    }
    error: InvalidInput | None = None
    page = None
    try:
        page = service.search_runs(
            db,
            principal,
            application=application or None,
            name=name or None,
            target=target or None,
            status=status or None,
            created_after=day(createdFrom, "createdFrom"),
            created_before=day(createdTo, "createdTo", end=True),
            limit=PAGE,
            cursor=cursor or None,
            page_size_max=settings.page_size_max,
        )
    except InvalidInput as exc:
        error = exc
    return render(
        request,
        "evaluations.html",
        status=400 if error else 200,
        form=form,
        error=error,
        page=page,
        statuses=STATUSES,
        back=back,
    )


@router.get("/evaluations/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request, run_id: str, db: Db, settings: SettingsDep, principal: SignedIn, base: str = ""
) -> HTMLResponse:
    """One run and its tasks; with ``base``, what changed since that other run of the same evaluation."""
    run = service.get_run(db, principal, run_id)
    others = service.search_runs(
        db, principal, application=run.application, name=run.name, limit=50, page_size_max=settings.page_size_max
    ).items
    diff = service.diff_runs(db, principal, base, run_id) if base else None
    history = None
    if run.target is not None and run.target.canonicalName:
        history = {"application": run.application, "name": run.name, "canonicalName": run.target.canonicalName}
    return render(
        request,
        "evaluation_run.html",
        run=run,
        others=[item for item in others if item.id != run.id],
        diff=diff,
        base=base,
        history=history,
        earlier=_earlier(run, service.earlier_actuals(db, principal, run_id)),
    )


def _earlier(run: Any, series: dict[tuple[int, int], list[float | None]]) -> list[list[dict[str, Any] | None]]:
    """Per task and expectation: the previous run's actual value and a small line of the earlier ones and this."""
    out: list[list[dict[str, Any] | None]] = []
    for place, task in enumerate(run.tasks):
        rows: list[dict[str, Any] | None] = []
        for index, expectation in enumerate(task.expectations):
            values = series.get((place, index))
            if not values:
                rows.append(None)
                continue
            label = f"{expectation.get('var') or 'actual'} over runs"
            line = charts.sparkline([*values, expectation.get("actual")], label=label)
            rows.append({"previous": values[-1], "line": line})
        out.append(rows)
    return out


@router.get("/evaluations/history", response_class=HTMLResponse)
def history_page(
    request: Request,
    db: Db,
    settings: SettingsDep,
    principal: SignedIn,
    application: str,
    name: str,
    canonicalName: str,
) -> HTMLResponse:
    """An evaluation across the versions of one model: each metric as a line, each version's verdict marked."""
    history = service.history(
        db,
        principal,
        application=application,
        name=name,
        canonical_name=canonicalName,
        limit=min(200, settings.page_size_max),
        page_size_max=settings.page_size_max,
    )
    series: dict[str, list[tuple[int, float]]] = {}
    for point in history.points:
        for task, metrics in point.metrics.items():
            for metric, value in metrics.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    series.setdefault(f"{task} · {metric}", []).append((point.versionNumber, float(value)))
    verdicts = [
        (point.versionNumber, point.run.status, f"/evaluations/runs/{point.run.id}") for point in history.points
    ]
    # One chart per metric name (a count beside an r2 would flatten it), the verdicts under the last one.
    by_metric: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for key, points in series.items():
        by_metric.setdefault(key.rsplit(" · ", 1)[-1], {})[key] = points
    groups = list(by_metric.items()) or [("", {})]
    chart_list = [
        charts.history(
            lines,
            verdicts,
            title=f"{metric or name} across the versions of {canonicalName}",
            unit=metric or "metric value",
            marks=index == len(groups) - 1,
        )
        for index, (metric, lines) in enumerate(groups)
    ]
    return render(request, "evaluation_history.html", history=history, charts=chart_list, series=series)
