"""One connection inside one transaction, and the base of every repository that works over it."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from . import raw_sqlite
from . import statements as st
from .codec import decode

T = TypeVar("T")


class Session:
    """Runs statements on the unit of work's connection (``kind``: "sqlite" or "postgres")."""

    def __init__(self, conn: AsyncConnection | Connection, kind: str) -> None:
        self.conn = conn
        self.kind = kind

    async def exec(self, stmt: Any, params: Any = None) -> Any:
        # SQLite runs inline on the event loop's thread: its point queries take microseconds,
        # far less than a hop to a driver thread per statement (measured: ~1.3 ms per
        # transaction through aiosqlite against ~0.05 ms inline). PostgreSQL goes through asyncpg.
        conn = self.conn
        if isinstance(conn, Connection):
            raw = raw_sqlite.execute(conn, stmt, params)
            if raw is not None:
                return raw
            return conn.execute(stmt, params) if params is not None else conn.execute(stmt)
        return await (conn.execute(stmt, params) if params is not None else conn.execute(stmt))

    async def docs(self, stmt: Any, type_: type[T]) -> list[T]:
        result = await self.exec(stmt)
        return [decode(row[0], type_) for row in result]

    async def doc_by(self, table: str, column: str, key: str, type_: type[T]) -> T | None:
        row = (await self.exec(st.doc_by(table, column), {"key": key})).first()
        return decode(row[0], type_) if row else None

    async def doc(self, stmt: Any, type_: type[T]) -> T | None:
        row = (await self.exec(stmt)).first()
        return decode(row[0], type_) if row else None


class Repository:
    """A repository's access to its unit of work's session (bound once: no extra call per statement)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.kind = session.kind
        self._exec = session.exec
        self._docs = session.docs
        self._doc = session.doc
        self._doc_by = session.doc_by
