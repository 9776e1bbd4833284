"""The metadata database: one engine, read and write sessions, and migrations applied at start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from genome.errors import InvalidSetting

__all__ = ["Database"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: the key of the PostgreSQL advisory lock that serialises migrations between replicas.
_MIGRATION_LOCK = 0x67656E6F6D65
_SCHEMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


class Database:
    """Owns the engine. Service functions open ``read()`` or ``write()`` sessions; ``write()`` commits.

    Example:
        >>> db = Database("sqlite://")
        >>> db.migrate()
        >>> with db.read() as session:
        ...     session.scalar(text("select 1"))
        1
    """

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise InvalidSetting(f"database URL {url!r} is not a URL: {exc}", field="GENOME_DATABASE_URL") from exc
        backend = parsed.get_backend_name()
        if backend not in _SCHEMES:
            raise InvalidSetting(
                f"database URL scheme {backend!r} is not supported; use one of: {', '.join(_SCHEMES)}",
                field="GENOME_DATABASE_URL",
            )
        if backend == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.dialect = backend
        self.engine = _sqlite_engine(parsed) if backend == "sqlite" else _postgres_engine(parsed)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        with self._sessions() as session:
            session.connection(execution_options={"genome_write": True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when several servers start at once."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("select pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
                connection.commit()
            try:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                if self.dialect == "postgresql":
                    connection.execute(text("select pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                    connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: Any) -> Engine:
    if url.database and url.database != ":memory:":
        path = Path(url.database).expanduser()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created here, 0600, for the server's user only; SQLite gives its -wal and -shm files the same mode.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Larger pages and a 64 MiB cache keep keyword scans over 100k versions within the search bar; the page
        # size only takes effect on a new database (before its first table).
        cursor.execute("pragma page_size=16384")
        cursor.execute("pragma cache_size=-65536")
        cursor.execute("pragma journal_mode=wal")
        cursor.execute("pragma synchronous=normal")
        cursor.execute("pragma foreign_keys=on")
        cursor.execute("pragma busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that later writes can fail with "database is locked" instead of waiting;
        # IMMEDIATE makes writers queue on busy_timeout from the start, while readers never block (WAL).
        mode = "immediate" if connection.get_execution_options().get("genome_write") else "deferred"
        connection.exec_driver_sql(f"begin {mode}")

    return engine


def _postgres_engine(url: Any) -> Engine:
    # Genome's queries are short; starting parallel workers costs more (~5 ms here) than they save.
    options = {"options": "-c max_parallel_workers_per_gather=0"}
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, connect_args=options)
