"""Prebuilt statements on SQLite straight through the driver: compiled once, executed with ``sqlite3``.

A statement built once (``@prebuilt``: ``statements.py``, ``dialect.py``) is compiled for SQLite the first
time it runs with a given set of parameter names; after that, running it is one ``cursor.execute`` (or
``executemany``) on the unit of work's own driver connection, inside its transaction. What this skips is
SQLAlchemy's per-call work (cache key, execution context, events, result metadata): on the evaluation
and receipt paths that was most of the time a statement took (profiles in ``bench/RESULTS.md``).

Only statements whose compiled form needs no result processing take this path (the schema's types
are integers, floats and text, which ``sqlite3`` returns as they are; bind processors, such as
``Float``'s, are applied as SQLAlchemy would), with no expanding ``IN`` parameters and no Python-side
column defaults. Anything else, and every statement not marked ``@prebuilt``, goes through SQLAlchemy
as before. Results keep the interface the repositories use:
iteration over tuples, ``first``, ``one``, ``scalar_one``, ``all`` and ``rowcount``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, NoResultFound

P = ParamSpec("P")
R = TypeVar("R")

_PREBUILT: set[int] = set()  # ids of statements that live for the whole process (held by their cache)


def prebuilt(fn: Callable[P, R]) -> Callable[P, R]:
    """``functools.cache`` that also marks every statement it returns as prebuilt."""
    cached = functools.cache(fn)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        stmt = cached(*args, **kwargs)
        _PREBUILT.add(id(stmt))
        return stmt

    return wrapper


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bind parameters' names, in the order of the ``?`` placeholders
    # per placeholder: None when the caller's parameters give it, else the value the statement carries
    # (a literal compared in the statement, ``id == 1``, is a bind parameter with its own value)
    fixed: tuple[Any, ...]
    all_given: bool
    # per placeholder: the type's bind processor (``Float``'s ``to_float``) or None
    processors: tuple[Callable[[Any], Any] | None, ...]


_COMPILED: dict[tuple[int, tuple[str, ...]], _Compiled | None] = {}


def _compile(conn: Connection, stmt: Any, keys: tuple[str, ...]) -> _Compiled | None:
    dialect = conn.dialect
    compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys))
    if compiled.positiontup is None or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    if any(b.expanding for b in compiled.binds.values()):
        return None
    if getattr(stmt, "_returning", None) or getattr(stmt, "is_select", False) or compiled.returning:
        for col in compiled._result_columns or ():
            if col[3]._cached_result_processor(dialect, None) is not None:
                return None
    table = getattr(stmt, "table", None)
    if table is not None and any(c.default is not None or c.onupdate is not None for c in table.columns):
        return None
    names = tuple(compiled.positiontup)
    given = set(keys)
    fixed = []
    for name in names:
        bind = compiled.binds[name]
        if name in given:
            fixed.append(None)
        elif bind.required or bind.callable is not None:
            return None
        else:
            fixed.append(bind.value)
    processors = tuple(compiled._bind_processors.get(n) for n in names)
    return _Compiled(compiled.string, names, tuple(fixed), all(n in given for n in names), processors)


class RawResult:
    """The part of SQLAlchemy's ``CursorResult`` the repositories use, over a ``sqlite3`` cursor."""

    __slots__ = ("_cursor", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.rowcount: int = cursor.rowcount

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._cursor)

    def all(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def first(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        self._cursor.close()
        return row

    def one(self) -> tuple[Any, ...]:
        rows = self._cursor.fetchall()
        if len(rows) != 1:
            raise NoResultFound(f"expected one row, got {len(rows)}")
        return rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


def execute(conn: Connection, stmt: Any, params: Any) -> RawResult | None:
    """Run a prebuilt statement through the driver, or None when it must go through SQLAlchemy."""
    if id(stmt) not in _PREBUILT:
        return None
    many = isinstance(params, list)
    rows: Sequence[Any] = params if many else ([params] if params is not None else [{}])
    if not rows:
        return None
    keys = tuple(rows[0])
    key = (id(stmt), keys)
    try:
        compiled = _COMPILED[key]
    except KeyError:
        compiled = _COMPILED[key] = _compile(conn, stmt, keys)
    if compiled is None:
        return None
    names, fixed = compiled.names, compiled.fixed
    if compiled.all_given:
        args = [tuple(p[n] for n in names) for p in rows]
    else:
        args = [tuple(p.get(n, v) for n, v in zip(names, fixed, strict=True)) for p in rows]
    if any(compiled.processors):
        procs = compiled.processors
        args = [tuple(v if f is None else f(v) for f, v in zip(procs, a, strict=True)) for a in args]
    if not conn.in_transaction():
        conn.begin()  # SQLAlchemy's autobegin (BEGIN through the engine's event): one snapshot per unit
    cursor = conn.connection.driver_connection.cursor()  # pyright: ignore[reportOptionalMemberAccess] - a live pooled connection
    try:
        if many:
            cursor.executemany(compiled.sql, args)
        else:
            cursor.execute(compiled.sql, args[0])
    except conn.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy would raise it (IntegrityError, …)
        raise DBAPIError.instance(
            compiled.sql, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    return RawResult(cursor)
