"""The ``genome`` command: run the server and look at what it stores."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from genome.errors import GenomeError

app = typer.Typer(
    help="Genome: model and evaluation stores, realtime explanations and pipelines for production ML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Browse the Model Store (talks to the server at GENOME_URL).", no_args_is_help=True)
evaluations_app = typer.Typer(
    help="Browse the Evaluation Store: runs, their tasks, and what changed between two runs.", no_args_is_help=True
)
pipelines_app = typer.Typer(help="Stored pipelines and their schedules.", no_args_is_help=True)
runs_app = typer.Typer(help="Pipeline runs: their steps, attempts and logs.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their roles per application (admins).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for the SDK, the CLI and scripts.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(evaluations_app, name="evaluations")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(runs_app, name="runs")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
console = Console()

UrlOption = Annotated[str | None, typer.Option("--url", envvar="GENOME_URL", help="Genome server URL.")]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="GENOME_TOKEN", help="API token.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UserOption = Annotated[
    str | None,
    typer.Option("--username", "-u", help="Log in as this user (asks for the password) instead of using a token."),
]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default GENOME_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GENOME_PORT or 8080).")] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Local development only: no credentials needed, loopback only.")
    ] = False,
) -> None:
    """Run the Genome server: API under /v1.0/genome, OpenAPI docs at /v1.0/genome/docs."""
    import uvicorn

    from genome.config import Settings
    from genome.server.app import API_PREFIX, create_app

    # The options are settings like the variables, so what depends on them (the GENOME_URL steps get) agrees.
    given: dict[str, Any] = {"no_auth": True if no_auth else None, "host": host, "port": port}
    settings = Settings(**{name: value for name, value in given.items() if value is not None})
    if settings.no_auth and settings.host not in _LOOPBACK:
        console.print("[red]error:[/red] --no-auth serves only on loopback (127.0.0.1, ::1, localhost)")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console.print(
        f"Genome on http://{settings.host}:{settings.port} "
        f"(database {settings.resolved_database_url.split('@')[-1]}, artifacts {settings.resolved_artifact_root}); "
        f"the UI is at http://{settings.host}:{settings.port}/ and the API under {API_PREFIX}"
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _store(url: str | None, token: str | None) -> Any:
    from genome.modelstore.client import ModelStore

    return ModelStore(url, token)


def _evaluations(url: str | None, token: str | None) -> Any:
    from genome.modelstore.evaluationstore import EvaluationStore

    return EvaluationStore(url, token)


def _compute(url: str | None, token: str | None) -> Any:
    from genome.modelstore.compute import Compute

    return Compute(url, token)


def _accounts(url: str | None, token: str | None, username: str | None) -> Any:
    from genome.modelstore.accounts import Accounts

    accounts = Accounts(url, token)
    if username:
        accounts.login(username, typer.prompt(f"password for {username}", hide_input=True))
    return accounts


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@contextmanager
def _reporting_errors() -> Iterator[None]:
    """Turn a server's error into one red line and exit status 1."""
    try:
        yield
    except GenomeError as error:
        console.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(1) from None


@models_app.command("list")
def models_list(
    url: UrlOption = None,
    token: TokenOption = None,
    application: Annotated[str | None, typer.Option(help="Only this application.")] = None,
    name: Annotated[str | None, typer.Option(help="Only this canonicalName.")] = None,
    framework: Annotated[str | None, typer.Option(help="Only this framework, e.g. sklearn.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key:value, repeatable.")] = None,
    keyword: Annotated[str | None, typer.Option("--keyword", "-k", help="Words to find in the names.")] = None,
    limit: Annotated[int, typer.Option(help="How many versions to show.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List model versions, newest first."""
    conditions: list[dict[str, Any]] = [
        {"field": field, "op": "eq", "value": value}
        for field, value in (("application", application), ("canonicalName", name), ("framework", framework))
        if value
    ]
    for pair in tag or []:
        key, _, value = pair.partition(":")
        conditions.append({"field": f"tags.{key}", "op": "eq", "value": value})
    with _reporting_errors(), _store(url, token) as store:
        page = store.search_models({"and": conditions} if conditions else None, keyword=keyword, limit=limit)
    if as_json:
        console.print_json(json.dumps(page))
        return
    table = Table(
        "id", "application", "canonicalName", "v", "versionName", "framework", "modality", "aliases", "created"
    )
    for item in page["items"]:
        table.add_row(
            item["id"],
            item["application"],
            item["canonicalName"],
            str(item["versionNumber"]),
            item["versionName"] or "",
            item["framework"],
            item["inputModality"],
            ", ".join(item["aliases"]),
            _when(item["created"]),
        )
    console.print(table)
    if page["nextCursor"]:
        console.print(f"[dim]more versions match; raise --limit (now {limit}) or narrow the filters[/dim]")


@models_app.command("show")
def models_show(
    version_id: Annotated[str, typer.Argument(help="The model version id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one model version with its parameters, tags, aliases and artifact."""
    with _reporting_errors(), _store(url, token) as store:
        record = store.get_model(version_id)
    if as_json:
        console.print_json(json.dumps(record))
        return
    table = Table("field", "value", show_header=False)
    for key, value in record.items():
        if key in ("created", "artifactTime"):
            value = _when(value)
        elif isinstance(value, dict | list):
            value = json.dumps(value, indent=1) if value else ""
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


def _node_label(node: dict[str, Any], on_path: bool) -> str:
    samples = f"  [dim]{node['samples']:.0f} rows[/dim]" if node["samples"] is not None else ""
    if node["leaf"]:
        text = f"→ {node['prediction']:.4g}" if isinstance(node["prediction"], float) else f"→ {node['prediction']}"
    elif node["categories"] is not None:
        text = f"{node['feature']} in {node['categories']}"
    elif node["threshold"] is None:  # a split of missing from present values
        text = f"{node['feature']} is not missing"
    else:
        text = f"{node['feature']} {'<' if node['strict'] else '<='} {node['threshold']:.4g}"
    if node["collapsed"]:
        text += f"  [dim](+{node['descendants']} nodes)[/dim]"
    return f"[bold yellow]{text}[/bold yellow]{samples}" if on_path else f"{text}{samples}"


def _tree_view(view: dict[str, Any]) -> Tree:
    nodes = {node["id"]: node for node in view["nodes"]}
    on_path = set(view["path"]["nodes"]) if view["path"] else set()
    title = f"{view['estimatorClass']}: tree {view['tree']} of {view['trees']}, {view['totalNodes']} nodes"
    tree = Tree(title + (" [dim](view truncated)[/dim]" if view["truncated"] else ""))

    def add(branch: Tree, node_id: int) -> None:
        node = nodes[node_id]
        child = branch.add(_node_label(node, node_id in on_path))
        for next_id in (node["left"], node["right"]):
            if next_id in nodes:
                add(child, next_id)

    add(tree, view["root"])
    return tree


@models_app.command("visualize")
def models_visualize(
    version_id: Annotated[str, typer.Argument(help="The model version id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    tree: Annotated[int, typer.Option(help="Which tree of an ensemble (0-based).")] = 0,
    node: Annotated[int, typer.Option(help="Start from this node (0 is the root).")] = 0,
    depth: Annotated[int, typer.Option(help="Levels to show below the node.")] = 4,
    record: Annotated[
        str | None, typer.Option(help="A record as JSON (list of values or object by feature) to trace.")
    ] = None,
    svg: Annotated[Path | None, typer.Option(help="Also write the tree drawn as SVG to this file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the inside of a tabular model: a tree (with a record's path) or a linear model's coefficients."""
    try:
        row = json.loads(record) if record is not None else None
    except ValueError as error:
        console.print(f"[red]error:[/red] --record is not JSON: {error}")
        raise typer.Exit(1) from None
    options: dict[str, Any] = {"id": version_id, "tree": tree, "node": node, "depth": depth}
    with _reporting_errors(), _store(url, token) as store:
        view = store.visualize(row, **options)
        if svg is not None:
            svg.write_text(store.visualize_svg(row, **options))  # a linear model: the server says why it cannot
    if as_json:
        console.print_json(json.dumps(view))
        return
    if view["kind"] == "linear":
        table = Table("feature", *[str(c["output"]) for c in view["coefficients"]], title=view["estimatorClass"])
        table.add_row("(intercept)", *[f"{c['intercept']:.4g}" for c in view["coefficients"]])
        for feature in view["featureNames"]:
            table.add_row(feature, *[f"{c['weights'][feature]:.4g}" for c in view["coefficients"]])
        console.print(table)
        return
    console.print(_tree_view(view))
    if view["path"]:
        console.print(f"path: [bold yellow]{view['path']['rule']}[/bold yellow]")
    if svg is not None:
        console.print(f"wrote {svg}")


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
    with _reporting_errors(), _evaluations(url, token) as evaluations:
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
            _when(run["created"]),
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
    with _reporting_errors(), _evaluations(url, token) as evaluations:
        run = evaluations.get_run(run_id)
    if as_json:
        console.print_json(json.dumps(run))
        return
    console.print(
        f"[bold]{run['name']}[/bold] {run['versionName'] or ''} on {_target(run) or 'no model'} "
        f"({run['application']}): {_status(run['status'])}, {_when(run['created'])}"
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
    with _reporting_errors(), _evaluations(url, token) as evaluations:
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


def _pipeline_table(pipelines: list[dict[str, Any]]) -> Table:
    table = Table("id", "application", "pipelineName", "schedule", "next run", "paused", "created")
    for pipeline in pipelines:
        table.add_row(
            pipeline["id"],
            pipeline["application"],
            pipeline["pipelineName"],
            pipeline["schedule"] or "",
            _when(pipeline["nextRun"]) if pipeline["nextRun"] else "",
            "paused" if pipeline["paused"] else "",
            _when(pipeline["created"]),
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
    with _reporting_errors(), _compute(url, token) as compute:
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
    with _reporting_errors(), _compute(url, token) as compute:
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
    with _reporting_errors(), _compute(url, token) as compute:
        console.print(_pipeline_table([compute.pause(pipeline_id)]))


@pipelines_app.command("resume")
def pipelines_resume(
    pipeline_id: Annotated[str, typer.Argument(help="The pipeline id.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Resume a paused schedule (what it missed meanwhile runs once)."""
    with _reporting_errors(), _compute(url, token) as compute:
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
    with _reporting_errors(), _compute(url, token) as compute:
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
            _when(run["created"]),
            _when(run["finished"]) if run["finished"] else "",
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

    with _reporting_errors(), _compute(url, token) as compute:
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
    with _reporting_errors(), _compute(url, token) as compute:
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
    with _reporting_errors(), _compute(url, token) as compute:
        console.print(_run_table(compute.cancel(run_id)))


@users_app.command("list")
def users_list(url: UrlOption = None, token: TokenOption = None, username: UserOption = None) -> None:
    """List users and their roles."""
    with _reporting_errors(), _accounts(url, token, username) as accounts:
        users = accounts.list_users()
    table = Table("username", "roles", "created")
    for user in users:
        roles = ", ".join(f"{app}={role}" for app, role in user["roles"].items())
        table.add_row(user["username"], roles, _when(user["created"]))
    console.print(table)


def _parse_roles(pairs: list[str] | None) -> dict[str, str]:
    roles = {}
    for pair in pairs or []:
        application, sep, role = pair.rpartition("=")
        if not sep or not application:
            console.print(f"[red]error:[/red] --role {pair!r} must be written application=role, e.g. search=editor")
            raise typer.Exit(2)
        roles[application] = role
    return roles


@users_app.command("add")
def users_add(
    new_user: Annotated[str, typer.Argument(metavar="USERNAME", help="The new user's name.")],
    role: Annotated[list[str] | None, typer.Option(help="application=role, repeatable; * for all.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Add a user (asks for their password)."""
    roles = _parse_roles(role)
    password = typer.prompt(f"password for {new_user}", hide_input=True, confirmation_prompt=True)
    with _reporting_errors(), _accounts(url, token, username) as accounts:
        user = accounts.create_user(new_user, password, roles)
    console.print(f"added {user['username']} with roles {user['roles'] or 'none'}")


@users_app.command("set-role")
def users_set_role(
    user: Annotated[str, typer.Argument(metavar="USERNAME")],
    application: Annotated[str, typer.Argument(help="The application, or * for all.")],
    role: Annotated[str, typer.Argument(help="viewer, editor or admin; 'none' removes the role.")],
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Grant a user a role in an application (or remove it with 'none')."""
    with _reporting_errors(), _accounts(url, token, username) as accounts:
        if role == "none":
            updated = accounts.remove_role(user, application)
        else:
            updated = accounts.set_role(user, application, role)
    console.print(f"{updated['username']}: {updated['roles'] or 'no roles'}")


@users_app.command("remove")
def users_remove(
    user: Annotated[str, typer.Argument(metavar="USERNAME")],
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Remove a user and every token they hold."""
    with _reporting_errors(), _accounts(url, token, username) as accounts:
        accounts.delete_user(user)
    console.print(f"removed {user}")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'laptop' or 'ci'.")],
    days: Annotated[int, typer.Option(help="Days until it expires.")] = 90,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Never expires (revoke it by hand).")] = False,
    owner: Annotated[str | None, typer.Option("--for", help="Admins: create it for this user.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Create an API token and print it once; use it as GENOME_TOKEN."""
    with _reporting_errors(), _accounts(url, token, username) as accounts:
        created = accounts.create_token(name, expires_in_days=None if no_expiry else days, username=owner)
    expires = _when(created["expires"]) if created["expires"] else "never"
    console.print(f"token {created['name']!r} for {created['username']} (id {created['id']}, expires {expires}):")
    print(created["token"])
    console.print("[dim]It is shown only now. Export it as GENOME_TOKEN.[/dim]")


@tokens_app.command("list")
def tokens_list(
    owner: Annotated[str | None, typer.Option("--for", help="Admins: this user's tokens.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Admins: every user's tokens.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """List API tokens (never their secrets)."""
    with _reporting_errors(), _accounts(url, token, username) as accounts:
        tokens = accounts.list_tokens(owner, all_users=all_users)
    table = Table("id", "name", "user", "kind", "created", "expires", "last used", "revoked")
    for item in tokens:
        table.add_row(
            item["id"],
            item["name"],
            item["username"],
            item["kind"],
            _when(item["created"]),
            _when(item["expires"]) if item["expires"] else "never",
            _when(item["lastUsed"]) if item["lastUsed"] else "",
            _when(item["revoked"]) if item["revoked"] else "",
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Revoke a token; it stops working at once."""
    with _reporting_errors(), _accounts(url, token, username) as accounts:
        revoked = accounts.revoke_token(token_id)
    console.print(f"revoked {revoked['name']!r} ({revoked['id']})")


if __name__ == "__main__":
    app()
