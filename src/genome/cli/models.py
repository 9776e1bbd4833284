"""``genome models``: browse the Model Store and draw a model's trees in the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from genome.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    model_store,
    reporting_errors,
    when,
)

models_app = typer.Typer(help="Browse the Model Store (talks to the server at GENOME_URL).", no_args_is_help=True)


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
    with reporting_errors(), model_store(url, token) as store:
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
            when(item["created"]),
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
    with reporting_errors(), model_store(url, token) as store:
        record = store.get_model(version_id)
    if as_json:
        console.print_json(json.dumps(record))
        return
    table = Table("field", "value", show_header=False)
    for key, value in record.items():
        if key in ("created", "artifactTime"):
            value = when(value)
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
    with reporting_errors(), model_store(url, token) as store:
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
