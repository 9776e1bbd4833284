"""The metadata database: URL handling, SQLite tuning, migrations that are safe to run at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import inspect, text

from genome.errors import InvalidSetting
from genome.store.db import Database


def test_unknown_scheme_names_the_supported_ones() -> None:
    with pytest.raises(InvalidSetting, match="sqlite, postgresql") as caught:
        Database("mysql://user@host/db")
    assert caught.value.field == "GENOME_DATABASE_URL"
    with pytest.raises(InvalidSetting, match="not a URL"):
        Database("::::")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'genome.db'}")
    db.migrate()
    with db.read() as session:
        assert session.scalar(text("pragma journal_mode")) == "wal"
        assert session.scalar(text("pragma foreign_keys")) == 1
    db.dispose()


def test_migrations_create_the_tables_and_are_idempotent(db: Database) -> None:
    db.migrate()
    tables = set(inspect(db.engine).get_table_names())
    assert {"model_versions", "model_names", "model_tags", "model_aliases", "alembic_version"} <= tables


@pytest.mark.postgres
def test_replicas_starting_at_once_migrate_once(fresh_database) -> None:
    url = fresh_database.url("postgresql")
    databases = [Database(url) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda database: database.migrate(), databases))
    with databases[0].read() as session:
        assert session.scalar(text("select count(*) from alembic_version")) == 1
    for database in databases:
        database.dispose()


def test_write_rolls_back_when_the_block_raises(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        session.execute(text("insert into model_names values ('a', '/n', 1, 0)"))
        raise RuntimeError("boom")
    with db.read() as session:
        assert session.scalar(text("select count(*) from model_names")) == 0


def test_migrations_build_exactly_the_tables_the_code_declares(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from genome.store.tables import Base

    db.migrate()
    with db.engine.connect() as connection:

        def on_this_database(item: Any, *_: Any) -> bool:
            # Indexes declared for one dialect only (ddl_if) exist only there.
            condition = getattr(item, "_ddl_if", None)
            return condition is None or condition.dialect == connection.dialect.name

        context = MigrationContext.configure(connection, opts={"include_object": on_this_database})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
