"""``genome pipelines`` and ``genome runs``: stored pipelines, their schedules, and their runs' steps and logs."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from genome.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    compute_client,
    console,
    reporting_errors,
    when,
)
from genome.errors import GenomeError

pipelines_app = typer.Typer(help="Stored pipelines and their schedules.", no_args_is_help=True)
runs_app = typer.Typer(help="Pipeline runs: their steps, attempts and logs.", no_args_is_help=True)


def _pipeline_table(pipelines: list[dict[str, Any]]) -> Table:
    table = Table("id", "application", "pipelineName", "schedule", "next run", "paused", "created")
    for pipeline in pipelines:
        table.add_row(
            pipeline["id"],
            pipeline["application"],
            pipeline["pipelineName"],
            pipeline["schedule"] or "",
            when(pipeline["nextRun"]) if pipeline["nextRun"] else "",
            "paused" if pipeline["paused"] else "",
            when(pipeline["created"]),
        )
    return table


@pipelines_app.command("list")
def pipelines_list(
    url: UrlOption = None,
    token: TokenOption = None,
    application: Annotated[str | None, typer.Option(help="Only this application.")] = None,
    limit: Annotated[int, typer.Option(help="How many pipelines to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List stored pipelines, newest first, with their schedules."""
    with reporting_errors(), compute_client(url, token) as compute:
        page = compute.list_pipelines(application=application, limit=limit)
    if as_json:
        console.print_json(json.dumps(page))
        return
    console.print(_pipeline_table(page["items"]))


@pipelines_app.command("show")
def pipelines_show(
    pipeline_id: Annotated[str, typer.Argument(help="The pipeline id.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show a stored pipeline: its schedule and its steps."""
    with reporting_errors(), compute_client(url, token) as compute:
        pipeline = compute.get_pipeline(pipeline_id)
    console.print(_pipeline_table([pipeline]))
    console.print_json(json.dumps(pipeline["spec"]["steps"]))


@pipelines_app.command("pause")
def pipelines_pause(
    pipeline_id: Annotated[str, typer.Argument(help="The pipeline id.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Pause a pipeline's schedule."""
    with reporting_errors(), compute_client(url, token) as compute:
        console.print(_pipeline_table([compute.pause(pipeline_id)]))


@pipelines_app.command("resume")
def pipelines_resume(
    pipeline_id: Annotated[str, typer.Argument(help="The pipeline id.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Resume a paused schedule (what it missed meanwhile runs once)."""
    with reporting_errors(), compute_client(url, token) as compute:
        console.print(_pipeline_table([compute.resume(pipeline_id)]))


_RUN_STYLE = {"queued": "dim", "pending": "dim", "running": "cyan", "succeeded": "green", "failed": "red"}


def _state(status: str) -> str:
    return f"[{_RUN_STYLE.get(status, 'yellow')}]{status}[/]"


def _run_table(run: dict[str, Any]) -> Table:
    table = Table(
        "group",
        "step",
        "status",
        "attempts",
        title=f"run {run['id']} ({run['pipelineName']}): "
        f"{_state(run['status'])}" + (f" — {run['reason']}" if run["reason"] else ""),
    )
    for step in run["steps"]:
        attempts = ", ".join(
            f"#{a['number']} {a['reason'] or a['status']}" + (f" (exit {a['exitCode']})" if a["exitCode"] else "")
            for a in step["attempts"]
        )
        table.add_row(str(step["group"] + 1), step["stepName"], _state(step["status"]), attempts)
    return table


@runs_app.command("list")
def runs_list(
    url: UrlOption = None,
    token: TokenOption = None,
    application: Annotated[str | None, typer.Option(help="Only this application.")] = None,
    pipeline: Annotated[str | None, typer.Option(help="Only runs of this stored pipeline id.")] = None,
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed, cancelled or skipped.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List pipeline runs, newest first."""
    with reporting_errors(), compute_client(url, token) as compute:
        page = compute.list_runs(application=application, pipeline_id=pipeline, status=status, limit=limit)
    if as_json:
        console.print_json(json.dumps(page))
        return
    table = Table("id", "application", "pipelineName", "status", "steps", "created", "finished")
    for run in page["items"]:
        done = sum(step["status"] == "succeeded" for step in run["steps"])
        table.add_row(
            run["id"],
            run["application"],
            run["pipelineName"],
            _state(run["status"]),
            f"{done}/{len(run['steps'])}",
            when(run["created"]),
            when(run["finished"]) if run["finished"] else "",
        )
    console.print(table)
    if page["nextCursor"]:
        console.print(f"[dim]more runs match; raise --limit (now {limit}) or narrow the filters[/dim]")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep the table live until the run ends.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a run: each step's status and attempts."""
    from rich.live import Live

    from genome.modelstore.compute import FINISHED

    with reporting_errors(), compute_client(url, token) as compute:
        run = compute.get_run(run_id)
        if as_json:
            console.print_json(json.dumps(run))
            return
        if not watch:
            console.print(_run_table(run))
            return
        with Live(_run_table(run), console=console, refresh_per_second=4) as live:
            while run["status"] not in FINISHED:
                time.sleep(0.5)
                run = compute.get_run(run_id)
                live.update(_run_table(run))
    if run["status"] != "succeeded":
        raise typer.Exit(1)


@runs_app.command("logs")
def runs_logs(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    step: Annotated[str, typer.Argument(help="The step name.")],
    attempt: Annotated[int | None, typer.Option(help="Which attempt (default: the latest).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the attempt ends.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print a step attempt's output (stdout and stderr)."""
    with reporting_errors(), compute_client(url, token) as compute:
        if attempt is None:
            steps = {entry["stepName"]: entry for entry in compute.get_run(run_id)["steps"]}
            if step not in steps:
                raise GenomeError(f"run {run_id} has no step {step!r}; its steps are {', '.join(steps)}")
            attempt = len(steps[step]["attempts"]) or 1
        if follow:
            for text in compute.follow_log(run_id, step, attempt):
                console.out(text, end="", highlight=False)
        else:
            console.out(compute.log(run_id, step, attempt)["text"], end="", highlight=False)


@runs_app.command("cancel")
def runs_cancel(
    run_id: Annotated[str, typer.Argument(help="The run id.")], url: UrlOption = None, token: TokenOption = None
) -> None:
    """Cancel a run: steps not started are cancelled; running ones have their process trees ended."""
    with reporting_errors(), compute_client(url, token) as compute:
        console.print(_run_table(compute.cancel(run_id)))
