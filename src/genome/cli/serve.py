"""``genome serve``: the API and the UI in one process."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from genome.cli.common import (
    console,
)


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
