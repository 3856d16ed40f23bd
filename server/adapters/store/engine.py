"""Database engines: how SQLite and PostgreSQL are opened.

URL normalisation, connection pragmas and how write transactions begin; the
differences in the SQL the store runs (upserts, row and advisory locks) are in
``dialect.py``.

SQLite: statements run inline on the event loop's thread through the
standard ``sqlite3`` driver (see ``Session.exec`` for why), over one write
connection (``BEGIN IMMEDIATE`` takes the database write lock up front so a
transaction never fails half-way on a lock upgrade; ``busy_timeout`` covers
other processes) and a pool of read connections, all in WAL mode.
PostgreSQL: SQLAlchemy's asyncio engine over asyncpg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

DEFAULT_SQLITE_PATH = ".data/promotion-agent.sqlite3"


class DatabaseUrlError(ValueError):
    pass


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or used at start-up; the message names it (without password)."""


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


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
    write: AsyncEngine | None = None
    read: AsyncEngine | None = None
    sync_write: Engine | None = None
    sync_read: Engine | None = None

    async def dispose(self) -> None:
        for engine in (self.write, self.read):
            if engine is not None:
                await engine.dispose()
        for sync in (self.sync_write, self.sync_read):
            if sync is not None:
                sync.dispose()


def _sqlite_engine(url: str, *, writer: bool) -> Engine:
    parsed = make_url(url).set(drivername="sqlite+pysqlite")
    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # QueuePool always: SQLAlchemy would pick a one-connection-per-thread pool for an in-memory database.
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": 30, "check_same_thread": False},
        "poolclass": QueuePool,
    }
    shared_memory = "mode=memory" in url  # demo mode: one in-memory database shared by every connection
    if writer:
        # Every write group ends in its own COMMIT or ROLLBACK (``engine.begin()``), so the pool's
        # rollback when the connection is returned would be a second, empty one per group.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60, pool_reset_on_return=None)
    else:
        kwargs.update(pool_size=8, max_overflow=56)
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take control of BEGIN away from the driver (SQLAlchemy's documented aiosqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        if shared_memory:
            # Shared-cache locks are table locks that busy_timeout does not wait on: readers read
            # without them (the demo's single writer commits whole transactions).
            cursor.execute("PRAGMA read_uncommitted=1")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # On the driver connection itself: SQLAlchemy's statement execution (context, events) per
        # write group was a measurable share of the request paths (bench/RESULTS.md, issue 16).
        conn.connection.driver_connection.execute(begin)

    return engine


def create_engines(url: str | None = None) -> Engines:
    full = normalise_url(url if url is not None else os.environ.get("DATABASE_URL"))
    kind = persistence_kind(full)
    if kind == "sqlite":
        return Engines(
            full,
            kind,
            sync_write=_sqlite_engine(full, writer=True),
            sync_read=_sqlite_engine(full, writer=False),
        )
    engine = create_async_engine(full, pool_size=10, max_overflow=10, pool_pre_ping=False)
    return Engines(full, kind, write=engine, read=engine)
