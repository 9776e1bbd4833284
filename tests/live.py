"""A real Genome server for tests: uvicorn in a thread on a free port with an admin token at hand, and the
throw-away databases it runs on. Fixtures (``tests/conftest.py``) and test folders with fixtures of their own
(``tests/ui``) build on these."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from genome.config import Settings
from genome.modelstore.accounts import Accounts
from genome.modelstore.client import ModelStore
from genome.modelstore.evaluationstore import EvaluationStore
from genome.server.app import create_app

POSTGRES_URL = os.environ.get("GENOME_TEST_POSTGRES_URL")


def _admin_url() -> str:
    assert POSTGRES_URL
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class FreshDatabase:
    """Creates empty databases on demand and drops them when the test session ends."""

    tmp: Path
    created: list[str]

    def url(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / f'{uuid.uuid4().hex}.db'}"
        name = f"genome_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        self.created.append(name)
        assert POSTGRES_URL
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.created:
            return
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'drop database if exists "{name}" with (force)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ADMIN_PASSWORD = "admin-password-for-tests"


class LiveServer:
    """A real uvicorn server on a free loopback port, run in a thread, with an admin token at hand."""

    def __init__(self, settings: Settings, app: FastAPI | None = None) -> None:
        self.port = _free_port()
        # The server's own port, so pipeline steps it runs get the right GENOME_URL.
        self.settings = settings = settings.model_copy(update={"port": self.port})
        self.app = app or create_app(settings)
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_password = settings.admin_password.get_secret_value() if settings.admin_password else None
        self.token: str | None = None
        self._clients: list[httpx.Client | ModelStore | Accounts] = []
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        if self.admin_password and not self.settings.no_auth:
            with Accounts(self.url) as accounts:
                accounts.login("admin", self.admin_password)
                self.token = accounts.create_token("tests")["token"]
        self.http = self.client(self.token)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for client in self._clients:
            client.close()
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def _keep(self, client: Any) -> Any:
        self._clients.append(client)
        return client

    def client(self, token: str | None) -> httpx.Client:
        """An httpx client for this server, sending ``token`` if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # A version served by an isolated worker pays the worker's start and imports on its first request.
        client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        return self._keep(client)  # type: ignore[no-any-return]

    def store(self, token: str | None = None) -> ModelStore:
        """A ModelStore acting with ``token``, by default the admin's."""
        return self._keep(ModelStore(self.url, token or self.token))  # type: ignore[no-any-return]

    def evaluations(self, token: str | None = None) -> EvaluationStore:
        """An EvaluationStore acting with ``token``, by default the admin's."""
        return self._keep(EvaluationStore(self.url, token or self.token))  # type: ignore[no-any-return]

    def accounts(self) -> Accounts:
        return self._keep(Accounts(self.url, self.token))  # type: ignore[no-any-return]

    def token_for(self, username: str, roles: dict[str, str]) -> str:
        """Create a user with these roles and return an API token of theirs."""
        with Accounts(self.url, self.token) as accounts:
            accounts.create_user(username, f"{username}-password", roles)
            return str(accounts.create_token("tests", username=username)["token"])
