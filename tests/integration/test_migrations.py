"""The Alembic migrations build exactly the schema the code declares (``schema.metadata``).

A column, index or constraint added to ``schema.py`` without a migration (or the other way
round) shows up here as a difference, on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from server.adapters.store import schema
from server.adapters.store.engine import normalise_url
from server.adapters.store.migrate import alembic_config


def _upgrade(conn: Any) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _differences(conn: Any) -> list:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, schema.metadata)


async def migrated_differences(url: str) -> list:
    engine = create_async_engine(normalise_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
        async with engine.connect() as conn:
            return await conn.run_sync(_differences)
    finally:
        await engine.dispose()


async def test_migrations_match_the_schema_on_sqlite(tmp_path: Path) -> None:
    assert await migrated_differences(f"sqlite:///{tmp_path}/m.sqlite3") == []


@pytest.mark.postgres
async def test_migrations_match_the_schema_on_postgres(postgres_url: str) -> None:
    assert await migrated_differences(postgres_url) == []


async def test_a_column_without_a_migration_is_a_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check can fail: a column only the code knows is reported."""
    from sqlalchemy import Column, Integer

    column = Column("not_migrated", Integer, nullable=True)
    schema.partners.append_column(column)
    try:
        differences = await migrated_differences(f"sqlite:///{tmp_path}/m.sqlite3")
    finally:
        schema.partners._columns.remove(column)
    assert [d[0] for d in differences] == ["add_column"] and differences[0][3].name == "not_migrated"
