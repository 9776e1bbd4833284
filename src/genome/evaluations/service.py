"""Evaluation Store operations: store runs, find them, follow an evaluation across versions, compare two runs,
and gate aliases on passing evaluations. Each function owns its transaction."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from genome.auth.principal import Principal
from genome.clock import now_ms
from genome.errors import Conflict, InvalidInput, NotFound
from genome.evaluations.schemas import (
    EvaluationDiff,
    EvaluationHistory,
    EvaluationRunCreate,
    EvaluationRunPage,
    EvaluationRunRead,
    EvaluationRunSummary,
    HistoryPoint,
    MetricDelta,
    StatusChange,
    TargetRead,
    TaskKey,
    TaskPresence,
    TaskRead,
)
from genome.evaluations.statuses import STATUSES, run_status, task_status
from genome.models import service as models
from genome.store.db import Database
from genome.store.pagination import fetch_page
from genome.store.tables import EvaluationRun, EvaluationTask, ModelVersion

__all__ = [
    "check_passing",
    "create_run",
    "diff_runs",
    "earlier_actuals",
    "get_run",
    "history",
    "search_runs",
]


def _check_statuses(run: EvaluationRunCreate) -> None:
    for index, task in enumerate(run.tasks):
        expected = task_status(task.error is not None, (expectation.passed for expectation in task.expectations))
        if task.status != expected:
            raise InvalidInput(
                f"tasks[{index}] ({task.name}) has status {task.status!r}, but its expectations and error make it "
                f"{expected!r}",
                field=f"tasks[{index}].status",
            )
    expected = run_status([task.status for task in run.tasks])
    if run.status != expected:
        raise InvalidInput(
            f"status is {run.status!r}, but its tasks make the run {expected!r} (error > failed > passed; "
            "a run of empty tasks is empty)",
            field="status",
        )


def _summary_read(row: EvaluationRun) -> dict[str, Any]:
    target = None
    if row.target_id is not None:
        target = TargetRead(
            ref=row.target_id,
            refType="model",
            canonicalName=row.target_canonical_name,
            versionNumber=row.target_version_number,
        )
    return {
        "id": row.id,
        "name": row.name,
        "versionName": row.version_name,
        "application": row.application,
        "code": row.code,
        "target": target,
        "pipelineName": row.pipeline_name,
        "pipelineRunId": row.pipeline_run_id,
        "pipelineStage": row.pipeline_stage,
        "dataRefs": row.data_refs,
        "status": row.status,
        "summary": row.summary,
        "created": row.created,
        "createdBy": row.created_by,
    }


def _task_read(task: EvaluationTask) -> TaskRead:
    return TaskRead(
        name=task.name,
        dataRef=task.data_ref,
        segment=task.segment,
        prototypeRef=task.prototype_ref,
        metrics=task.metrics,
        expectations=task.expectations,
        status=task.status,  # type: ignore[arg-type]
        error=task.error,
    )


def to_summary(row: EvaluationRun) -> EvaluationRunSummary:
    return EvaluationRunSummary(**_summary_read(row))


def to_read(row: EvaluationRun) -> EvaluationRunRead:
    return EvaluationRunRead(**_summary_read(row), tasks=[_task_read(task) for task in row.tasks])


def _not_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or Infinity inside ``value`` (lists and objects walked), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ()
    for key, item in items:
        found = _not_finite(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
        if found:
            return found
    return None


def _check_finite(run: EvaluationRunCreate) -> None:
    # JSON has no NaN or Infinity: PostgreSQL refuses them and SQLite's copy reads back as null. A metric that came
    # out NaN is a failed computation, which its task should report as an error.
    for index, task in enumerate(run.tasks):
        values: dict[str, Any] = {f"tasks[{index}].metrics": task.metrics}
        for number, expectation in enumerate(task.expectations):
            values[f"tasks[{index}].expectations[{number}].expected"] = expectation.expected
            values[f"tasks[{index}].expectations[{number}].actual"] = expectation.actual
        for path, value in values.items():
            found = _not_finite(value, path)
            if found:
                raise InvalidInput(
                    f"{found} is not a finite number (NaN or Infinity): record a number, or let the task fail "
                    "with an error saying why there is none",
                    field=found,
                )


def create_run(db: Database, principal: Principal, run: EvaluationRunCreate) -> EvaluationRunRead:
    """Store a finished run with its tasks (editors of its application). The run's application is the target
    model's; the target must exist and be visible to the caller."""
    _check_statuses(run)
    _check_finite(run)
    target = None
    if run.target is not None:
        try:
            target = models.get_version(db, principal, run.target.ref)
        except NotFound as exc:
            raise NotFound(f"target model version {run.target.ref!r} does not exist", field="target.ref") from exc
    if target is not None and run.application and run.application != target.application:
        raise InvalidInput(
            f"application {run.application!r} differs from the target model's application {target.application!r}",
            field="application",
        )
    application = run.application or (target.application if target else None)
    if application is None:
        raise InvalidInput("application is required when the run has no target model", field="application")
    principal.require(application, "editor")
    counts = Counter(task.status for task in run.tasks)
    row = EvaluationRun(
        id=uuid.uuid4().hex,
        application=application,
        name=run.name,
        version_name=run.versionName,
        code=run.code.model_dump() if run.code else None,
        target_id=target.id if target else None,
        target_canonical_name=target.canonicalName if target else None,
        target_version_number=target.versionNumber if target else None,
        pipeline_name=run.pipelineName,
        pipeline_run_id=run.pipelineRunId,
        pipeline_stage=run.pipelineStage,
        data_refs=list(dict.fromkeys(run.dataRefs)),
        status=run.status,
        summary={status: counts.get(status, 0) for status in STATUSES},
        created=now_ms(),
        created_by=principal.username,
    )
    row.tasks = [
        EvaluationTask(
            position=position,
            name=task.name,
            data_ref=task.dataRef,
            segment=task.segment,
            prototype_ref=task.prototypeRef,
            metrics=task.metrics,
            expectations=[expectation.model_dump() for expectation in task.expectations],
            status=task.status,
            error=task.error.model_dump() if task.error else None,
        )
        for position, task in enumerate(run.tasks)
    ]
    with db.write() as session:
        session.add(row)
        session.flush()
        return to_read(row)


def _get_row(session: Session, principal: Principal, run_id: str, *, tasks: bool = True) -> EvaluationRun:
    options = [selectinload(EvaluationRun.tasks)] if tasks else []
    return principal.fetch(session, EvaluationRun, run_id, f"evaluation run {run_id!r}", options=options)


def get_run(db: Database, principal: Principal, run_id: str) -> EvaluationRunRead:
    with db.read() as session:
        return to_read(_get_row(session, principal, run_id))


def search_runs(
    db: Database,
    principal: Principal,
    *,
    application: str | None = None,
    name: str | None = None,
    target: str | None = None,
    status: str | None = None,
    pipeline_run_id: str | None = None,
    created_after: int | None = None,
    created_before: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
    page_size_max: int,
) -> EvaluationRunPage:
    """One page of the runs the principal may see, newest first. ``target`` is a model version id or a model's
    canonicalName (all its versions); ``created_after``/``created_before`` are ms since epoch, inclusive."""
    if limit > page_size_max:
        raise InvalidInput(f"limit {limit} is above the maximum page size {page_size_max}", field="limit")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}; got {status!r}", field="status")
    query = principal.only_readable(select(EvaluationRun), EvaluationRun.application)
    equal = {
        EvaluationRun.application: application,
        EvaluationRun.name: name,
        EvaluationRun.status: status,
        EvaluationRun.pipeline_run_id: pipeline_run_id,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    if target is not None:
        query = query.where((EvaluationRun.target_id == target) | (EvaluationRun.target_canonical_name == target))
    if created_after is not None:
        query = query.where(EvaluationRun.created >= created_after)
    if created_before is not None:
        query = query.where(EvaluationRun.created <= created_before)
    with db.read() as session:
        page, next_cursor = fetch_page(
            session, query, EvaluationRun.created, EvaluationRun.id, sort="-created", cursor=cursor, limit=limit
        )
    return EvaluationRunPage(items=[to_summary(row) for row in page], nextCursor=next_cursor)


def history(
    db: Database,
    principal: Principal,
    *,
    application: str,
    name: str,
    canonical_name: str,
    limit: int = 100,
    after_version: int | None = None,
    page_size_max: int,
) -> EvaluationHistory:
    """The evaluation ``name`` across the versions of model ``canonical_name``: per version (ascending), its latest
    run and that run's metrics by task. Pages by version number (``after_version``)."""
    if limit > page_size_max:
        raise InvalidInput(f"limit {limit} is above the maximum page size {page_size_max}", field="limit")
    principal.require_visible(application, f"application {application!r}", field="application")
    scope = (
        EvaluationRun.application == application,
        EvaluationRun.name == name,
        EvaluationRun.target_canonical_name == canonical_name,
    )
    numbers = select(EvaluationRun.target_version_number).where(*scope).distinct()
    if after_version is not None:
        numbers = numbers.where(EvaluationRun.target_version_number > after_version)
    numbers = numbers.order_by(EvaluationRun.target_version_number).limit(limit + 1)
    with db.read() as session:
        versions = list(session.scalars(numbers))
        page, more = versions[:limit], len(versions) > limit
        latest = (
            select(EvaluationRun)
            .where(*scope, EvaluationRun.target_version_number.in_(page))
            .options(selectinload(EvaluationRun.tasks))
            .order_by(EvaluationRun.target_version_number, EvaluationRun.created.desc(), EvaluationRun.id.desc())
        )
        points: dict[int, HistoryPoint] = {}
        for row in session.scalars(latest):
            number = row.target_version_number
            if number is None or number in points:
                continue
            metrics = {task.name: task.metrics for task in row.tasks if task.prototype_ref is None}
            points[number] = HistoryPoint(
                versionNumber=number, modelId=row.target_id, run=to_summary(row), metrics=metrics
            )
    return EvaluationHistory(
        application=application,
        name=name,
        canonicalName=canonical_name,
        points=[points[number] for number in page if number in points],
        nextCursor=str(page[-1]) if more else None,
    )


def _keyed(tasks: list[EvaluationTask]) -> dict[tuple[str, str | None, str | None, int], EvaluationTask]:
    seen: Counter[tuple[str, str | None, str | None]] = Counter()
    keyed = {}
    for task in tasks:
        identity = (task.name, task.segment, task.prototype_ref)
        keyed[(*identity, seen[identity])] = task
        seen[identity] += 1
    return keyed


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def earlier_actuals(
    db: Database, principal: Principal, run_id: str, *, limit: int = 10
) -> dict[tuple[int, int], list[float | None]]:
    """Each numeric expectation of run ``run_id`` with its actual value in up to ``limit`` earlier runs of the same
    evaluation on the same model (any version), oldest first, None where a run lacked it. Keyed by the task's place
    in the run (as ``get_run`` lists them) and the expectation's place in the task; tasks of earlier runs are matched
    as ``diff_runs`` matches them."""
    with db.read() as session:
        run = _get_row(session, principal, run_id)
        query = (
            principal.only_readable(select(EvaluationRun), EvaluationRun.application)
            .where(
                EvaluationRun.application == run.application,
                EvaluationRun.name == run.name,
                EvaluationRun.target_canonical_name == run.target_canonical_name,
                (EvaluationRun.created < run.created)
                | ((EvaluationRun.created == run.created) & (EvaluationRun.id < run.id)),
            )
            .options(selectinload(EvaluationRun.tasks))
            .order_by(EvaluationRun.created.desc(), EvaluationRun.id.desc())
            .limit(limit)
        )
        earlier = [_keyed(row.tasks) for row in reversed(list(session.scalars(query)))]
        series: dict[tuple[int, int], list[float | None]] = {}
        for place, (key, task) in enumerate(_keyed(run.tasks).items()):
            for index, expectation in enumerate(task.expectations):
                if not _number(expectation.get("actual")):
                    continue
                values = []
                for tasks in earlier:
                    old = tasks.get(key)
                    previous = old.expectations[index] if old is not None and index < len(old.expectations) else {}
                    actual = previous.get("actual") if previous.get("var") == expectation.get("var") else None
                    values.append(float(actual) if _number(actual) else None)
                series[(place, index)] = values
        return series


def diff_runs(db: Database, principal: Principal, base_id: str, head_id: str) -> EvaluationDiff:
    """What changed from run ``base_id`` to run ``head_id``, task by task (prototypes matched by occurrence)."""
    with db.read() as session:
        base, head = _get_row(session, principal, base_id), _get_row(session, principal, head_id)
        before, after = _keyed(base.tasks), _keyed(head.tasks)
        flipped, added, removed, metrics = [], [], [], []
        unchanged = 0

        def key_of(key: tuple[str, str | None, str | None, int]) -> TaskKey:
            return TaskKey(name=key[0], segment=key[1], prototypeRef=key[2], occurrence=key[3])

        for key, new in after.items():
            old = before.get(key)
            if old is None:
                added.append(TaskPresence(task=key_of(key), status=new.status))  # type: ignore[arg-type]
                continue
            if old.status != new.status:
                flipped.append(StatusChange(task=key_of(key), base=old.status, head=new.status))  # type: ignore[arg-type]
            else:
                unchanged += 1
            for metric in dict.fromkeys([*old.metrics, *new.metrics]):
                was, now = old.metrics.get(metric), new.metrics.get(metric)
                if was != now:
                    delta = now - was if _number(was) and _number(now) else None
                    metrics.append(MetricDelta(task=key_of(key), metric=metric, base=was, head=now, delta=delta))
        for key, old in before.items():
            if key not in after:
                removed.append(TaskPresence(task=key_of(key), status=old.status))  # type: ignore[arg-type]
        return EvaluationDiff(
            base=to_summary(base),
            head=to_summary(head),
            statusChanged=base.status != head.status,
            flipped=flipped,
            added=added,
            removed=removed,
            metrics=metrics,
            unchangedTasks=unchanged,
        )


def check_passing(session: Session, version: ModelVersion, alias: str) -> None:
    """Refuse ``alias`` for ``version`` unless the latest run of each evaluation that targeted it passed (and
    there is at least one)."""
    ranked = (
        select(
            EvaluationRun.id,
            EvaluationRun.name,
            EvaluationRun.status,
            func.row_number()
            .over(partition_by=EvaluationRun.name, order_by=(EvaluationRun.created.desc(), EvaluationRun.id.desc()))
            .label("rank"),
        )
        .where(EvaluationRun.target_id == version.id)
        .subquery()
    )
    latest = session.execute(select(ranked.c.id, ranked.c.name, ranked.c.status).where(ranked.c.rank == 1)).all()
    what = f"{version.canonical_name} v{version.version_number}"
    if not latest:
        raise Conflict(
            f"alias {alias!r} needs passing evaluations (require_passing), and {what} has no stored evaluation run",
            field="require_passing",
        )
    failing = [f"{name!r} {status} (run {run_id})" for run_id, name, status in latest if status != "passed"]
    if failing:
        raise Conflict(
            f"alias {alias!r} needs passing evaluations (require_passing), and the latest runs on {what} did not "
            f"all pass: {'; '.join(sorted(failing))}",
            field="require_passing",
        )
