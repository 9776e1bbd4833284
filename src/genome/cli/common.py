"""What every command group shares: the console, the options naming the server and the credential, the SDK
clients, and one way to report a server's error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from genome.errors import GenomeError

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


def model_store(url: str | None, token: str | None) -> Any:
    from genome.modelstore.client import ModelStore

    return ModelStore(url, token)


def evaluation_store(url: str | None, token: str | None) -> Any:
    from genome.modelstore.evaluationstore import EvaluationStore

    return EvaluationStore(url, token)


def compute_client(url: str | None, token: str | None) -> Any:
    from genome.modelstore.compute import Compute

    return Compute(url, token)


def accounts_client(url: str | None, token: str | None, username: str | None) -> Any:
    from genome.modelstore.accounts import Accounts

    accounts = Accounts(url, token)
    if username:
        accounts.login(username, typer.prompt(f"password for {username}", hide_input=True))
    return accounts


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a server's error into one red line and exit status 1."""
    try:
        yield
    except GenomeError as error:
        console.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(1) from None
