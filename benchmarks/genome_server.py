"""A Genome server for the benchmarks: `genome serve` in a subprocess (or uvicorn in a thread), with an admin token."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from genome.modelstore.accounts import Accounts

__all__ = ["free_port", "genome_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def genome_server(
    home: Path, *, database_url: str | None = None, mode: str = "process", settings: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """A server on ``database_url`` (default: SQLite under ``home``) and an artifact folder under ``home``;
    ``settings`` are further settings by name (``{"executor_concurrency": "20"}``, i.e. GENOME_EXECUTOR_CONCURRENCY).

    Yields its URL and an admin API token: the SDK authenticates every request, as in production.
    """
    password = secrets.token_urlsafe(16)
    with _serving(home, database_url, mode, password, settings or {}) as url, Accounts(url) as accounts:
        accounts.login("admin", password)
        yield url, accounts.create_token("bench", expires_in_days=1)["token"]


@contextlib.contextmanager
def _serving(home: Path, database_url: str | None, mode: str, password: str, settings: dict[str, str]) -> Iterator[str]:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if mode == "thread":
        import uvicorn

        from genome.config import Settings
        from genome.server.app import create_app

        config = Settings(home=home, database_url=database_url, admin_password=password, port=port, **settings)
        server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            _wait_until_up(url, alive=thread.is_alive)
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=30)
        return
    env = {**os.environ, "GENOME_HOME": str(home), "GENOME_ADMIN_PASSWORD": password}
    env.update({f"GENOME_{name.upper()}": value for name, value in settings.items()})
    if database_url:
        env["GENOME_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "genome.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(url, alive=lambda: process.poll() is None)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the Genome server exited while starting")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v1.0/genome/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("the Genome server did not start within 60 s")
