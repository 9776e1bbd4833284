"""``genome evaluations``: runs of the Evaluation Store, their tasks, and what changed between two runs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from genome.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    evaluation_store,
    reporting_errors,
    when,
)

evaluations_app = typer.Typer(
    help="Browse the Evaluation Store: runs, their tasks, and what changed between two runs.", no_args_is_help=True
)


_STATUS_STYLE = {"passed": "green", "failed": "red", "error": "magenta", "empty": "dim"}


def _status(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _target(run: dict[str, Any]) -> str:
    target = run["target"]
    if target is None:
        return ""
    return f"{target['canonicalName']} v{target['versionNumber']}" if target["canonicalName"] else target["ref"]


@evaluations_app.command("list")
def evaluations_list(
    url: UrlOption = None,
    token: TokenOption = None,
    application: Annotated[str | None, typer.Option(help="Only this application.")] = None,
    name: Annotated[str | None, typer.Option(help="Only this evaluation.")] = None,
    target: Annotated[str | None, typer.Option(help="Only runs on this model version id or canonicalName.")] = None,
    status: Annotated[str | None, typer.Option(help="Only passed, failed, error or empty runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List evaluation runs, newest first."""
    with reporting_errors(), evaluation_store(url, token) as evaluations:
        page = evaluations.search_runs(application=application, name=name, target=target, status=status, limit=limit)
    if as_json:
        console.print_json(json.dumps(page))
        return
    table = Table("id", "application", "evaluation", "target", "status", "tasks", "created")
    for run in page["items"]:
        counts = ", ".join(f"{count} {state}" for state, count in run["summary"].items() if count)
        table.add_row(
            run["id"],
            run["application"],
            run["name"],
            _target(run),
            _status(run["status"]),
            counts,
            when(run["created"]),
        )
    console.print(table)
    if page["nextCursor"]:
        console.print(f"[dim]more runs match; raise --limit (now {limit}) or narrow the filters[/dim]")


@evaluations_app.command("show")
def evaluations_show(
    run_id: Annotated[str, typer.Argument(help="The evaluation run id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run: each task and prototype with its metrics and every expectation's verdict."""
    with reporting_errors(), evaluation_store(url, token) as evaluations:
        run = evaluations.get_run(run_id)
    if as_json:
        console.print_json(json.dumps(run))
        return
    console.print(
        f"[bold]{run['name']}[/bold] {run['versionName'] or ''} on {_target(run) or 'no model'} "
        f"({run['application']}): {_status(run['status'])}, {when(run['created'])}"
    )
    table = Table("task", "status", "metrics", "expectations")
    for task in run["tasks"]:
        label = task["name"] + (f" [{task['segment']}]" if task["segment"] else "")
        label += f" / {task['prototypeRef']}" if task["prototypeRef"] else ""
        verdicts = [("✓ " if e["passed"] else "✗ ") + e["text"] for e in task["expectations"]]
        if task["error"]:
            verdicts.append(task["error"]["message"])
        metrics = ", ".join(f"{key}={value}" for key, value in task["metrics"].items())
        table.add_row(label, _status(task["status"]), metrics, "\n".join(verdicts))
    console.print(table)


@evaluations_app.command("diff")
def evaluations_diff(
    base: Annotated[str, typer.Argument(help="The earlier run id.")],
    head: Annotated[str, typer.Argument(help="The later run id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """What changed from BASE to HEAD: tasks that flipped, metrics that moved, tasks added or removed."""
    with reporting_errors(), evaluation_store(url, token) as evaluations:
        diff = evaluations.diff(base, head)
    if as_json:
        console.print_json(json.dumps(diff))
        return

    def task_label(key: dict[str, Any]) -> str:
        label = key["name"] + (f" [{key['segment']}]" if key["segment"] else "")
        if key["prototypeRef"]:
            label += f" / {key['prototypeRef']} #{key['occurrence'] + 1}"
        return label

    console.print(f"run {_status(diff['base']['status'])} → {_status(diff['head']['status'])}")
    table = Table("task", "change")
    for change in diff["flipped"]:
        table.add_row(task_label(change["task"]), f"{_status(change['base'])} → {_status(change['head'])}")
    for change in diff["metrics"]:
        delta = f" ({change['delta']:+.4g})" if change["delta"] is not None else ""
        table.add_row(task_label(change["task"]), f"{change['metric']}: {change['base']} → {change['head']}{delta}")
    for kind in ("added", "removed"):
        for change in diff[kind]:
            table.add_row(task_label(change["task"]), f"{kind} ({_status(change['status'])})")
    console.print(table)
    console.print(f"[dim]{diff['unchangedTasks']} tasks kept their status[/dim]")
