"""Database engines and the few places where SQLite and PostgreSQL differ.

Everything dialect-specific lives here: URL normalisation, connection
pragmas, how write transactions begin, upserts and row-claiming clauses.

SQLite: one write connection (writes are serialised in process, and
``BEGIN IMMEDIATE`` takes the database write lock up front so a transaction
never fails half-way on a lock upgrade; ``busy_timeout`` covers other
processes) and a small pool of read connections, all in WAL mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_SQLITE_PATH = ".data/promotion-agent.sqlite3"


class DatabaseUrlError(ValueError):
    pass


def normalise_url(url: str | None) -> str:
    """Accept ``sqlite+aiosqlite:///path``, ``sqlite:///path``, ``postgresql://…`` and ``postgres://…``."""
    if not url:
        return f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}"
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
        raise DatabaseUrlError(f"DATABASE_URL is not a valid database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"DATABASE_URL must be sqlite or postgresql, got {backend!r}")


def persistence_kind(url: str) -> str:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgres"


@dataclass
class Engines:
    url: str
    kind: str  # "sqlite" | "postgres"
    write: AsyncEngine
    read: AsyncEngine

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def _sqlite_engine(url: str, *, writer: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if writer:
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        kwargs.update(pool_size=4, max_overflow=4)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take control of BEGIN away from the driver (SQLAlchemy's documented aiosqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def create_engines(url: str | None = None) -> Engines:
    full = normalise_url(url if url is not None else os.environ.get("DATABASE_URL"))
    kind = persistence_kind(full)
    if kind == "sqlite":
        return Engines(full, kind, _sqlite_engine(full, writer=True), _sqlite_engine(full, writer=False))
    engine = create_async_engine(full, pool_size=10, max_overflow=10, pool_pre_ping=False)
    return Engines(full, kind, engine, engine)


def insert_ignoring(kind: str, table: Any, conflict_columns: list[str]) -> Any:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` for the active dialect."""
    module = sqlite if kind == "sqlite" else postgresql
    return module.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)


def claim_suffix(kind: str) -> str:
    """Row locking for claiming retry jobs: PostgreSQL skips rows another worker holds."""
    return "" if kind == "sqlite" else " FOR UPDATE SKIP LOCKED"
