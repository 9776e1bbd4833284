"""The ``genome`` command: run the server and look at what it stores."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from genome.errors import GenomeError

app = typer.Typer(
    help="Genome: model and evaluation stores, realtime explanations and pipelines for production ML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Browse the Model Store (talks to the server at GENOME_URL).", no_args_is_help=True)
app.add_typer(models_app, name="models")
console = Console()

UrlOption = Annotated[str | None, typer.Option("--url", envvar="GENOME_URL", help="Genome server URL.")]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="GENOME_TOKEN", help="API token.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default GENOME_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GENOME_PORT or 8080).")] = None,
) -> None:
    """Run the Genome server: API under /v1.0/genome, OpenAPI docs at /v1.0/genome/docs."""
    import uvicorn

    from genome.config import Settings
    from genome.server.app import create_app

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console.print(
        f"Genome on http://{host or settings.host}:{port or settings.port} "
        f"(database {settings.resolved_database_url.split('@')[-1]}, artifacts {settings.resolved_artifact_root})"
    )
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port, log_level="info")


def _store(url: str | None, token: str | None) -> Any:
    from genome.modelstore.client import ModelStore

    return ModelStore(url, token)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fail(error: GenomeError) -> None:
    console.print(f"[red]error:[/red] {error.message}")
    raise typer.Exit(1)


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
    try:
        with _store(url, token) as store:
            page = store.search_models({"and": conditions} if conditions else None, keyword=keyword, limit=limit)
    except GenomeError as error:
        _fail(error)
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
    try:
        with _store(url, token) as store:
            record = store.get_model(version_id)
    except GenomeError as error:
        _fail(error)
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


if __name__ == "__main__":
    app()
