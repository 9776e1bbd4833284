"""Shared fixtures: backends (SQLite, PostgreSQL), a real uvicorn server in a thread, and the SDK client."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from genome.config import Settings
from genome.modelstore.client import ModelStore
from genome.store.db import Database
from live import ADMIN_PASSWORD, POSTGRES_URL, FreshDatabase, LiveServer

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") and not POSTGRES_URL:
        raise pytest.UsageError("CI must run the PostgreSQL tests: set GENOME_TEST_POSTGRES_URL (.ci/postgres.sh)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="GENOME_TEST_POSTGRES_URL is not set (run .ci/postgres.sh to get one)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's GENOME_* or pipeline-step variables."""
    for name in list(os.environ):
        if name.startswith("GENOME_") or name in ("APPLICATION", "PIPELINE_NAME", "PIPELINE_RUNID", "STEP_NAME"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshDatabase]:
    databases = FreshDatabase(tmp_path_factory.mktemp("databases"), [])
    yield databases
    databases.drop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(backend: str, fresh_database: FreshDatabase) -> Iterator[Database]:
    database = Database(fresh_database.url(backend))
    database.migrate()
    yield database
    database.dispose()


ServerFactory = Callable[..., LiveServer]


@pytest.fixture
def make_server(tmp_path: Path, fresh_database: FreshDatabase) -> Iterator[ServerFactory]:
    """``make_server(backend, **settings)`` starts a server on a fresh database and artifact folder."""
    servers: list[LiveServer] = []

    def start(backend: str = "sqlite", **overrides: Any) -> LiveServer:
        fields: dict[str, Any] = {
            "home": tmp_path / f"home-{len(servers)}",
            "database_url": fresh_database.url(backend),
            "admin_password": ADMIN_PASSWORD,
        }
        fields.update(overrides)
        server = LiveServer(Settings(**fields)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture
def server(backend: str, make_server: ServerFactory) -> LiveServer:
    """A live server on a fresh database of each backend."""
    return make_server(backend)


@pytest.fixture
def store(server: LiveServer) -> ModelStore:
    """The SDK, acting as the admin of a live server."""
    return server.store()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local, single-core SparkSession shared by the whole run (the visualizer's and the explainers' Spark tests):
    the JVM takes about 10 s to start, so only tests that train Spark models ask for it."""
    from pyspark.sql import SparkSession  # imported here so the other tests never pay for pyspark

    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
