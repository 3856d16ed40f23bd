"""The store: units of work for writing (group-committed on SQLite) and for reading.

The group commit lives here and only here: every write of the server goes through
``SqlStore.write``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ...domain.models import AuditEvent
from .engine import Engines
from .ports import UnitOfWork
from .unit_of_work import SqlUnitOfWork

T = TypeVar("T")
Carried = tuple[tuple[ContextVar[Any], Any], ...]
# A queued write: the caller's function, its future, its retries, its context variables.
Queued = tuple[Callable[[UnitOfWork], Awaitable[Any]], asyncio.Future[Any], int, Carried]
# A queued audit append: its events and its future.
Appended = tuple[list[AuditEvent], asyncio.Future[None]]


class SqlStore:
    """Implements ``ports.Store``: hands out units of work over the engines. ``write`` retries a
    transaction that lost an id race.

    SQLite: group commit. Writers queue their transaction functions; whoever takes
    the write lock runs every queued function in one database transaction, each
    inside its own savepoint (a function that fails rolls back alone and gets its
    exception), commits once, and only then hands each caller its result, so
    nothing is acknowledged before it is committed. One commit per group instead of
    one per request is what lets a single SQLite writer keep up with many requests.

    The leader runs the other callers' functions in its own task, so the context
    variables in ``carry`` (request-scoped values such as the authenticated caller;
    each needs a default) are captured when a function is queued and set again
    while it runs.
    """

    def __init__(self, engines: Engines, carry: Iterable[ContextVar[Any]] = ()) -> None:
        self.engines = engines
        self.kind = engines.kind
        self.carry = tuple(carry)
        self._write_lock = asyncio.Lock()
        self._queued: list[Queued] = []
        self._appended: list[Appended] = []

    async def write(self, fn: Callable[[UnitOfWork], Awaitable[T]], *, retries: int = 3) -> T:
        if self.engines.sync_write is not None:
            return await self._group_write(fn, retries)
        assert self.engines.write is not None
        for attempt in range(retries):
            try:
                async with self.engines.write.begin() as conn:
                    return await self._run(fn, SqlUnitOfWork(conn, self.kind))
            except IntegrityError:
                # A random id collided with a stored one (ids are short, by contract): try again
                # with new ids. Business uniqueness (receipt id, settlement per intent/offer/event)
                # is handled with ON CONFLICT inside ``fn`` and never lands here.
                if attempt == retries - 1:
                    raise
        raise AssertionError("unreachable")

    async def append_audit(self, events: list[AuditEvent]) -> None:
        """Store audit events that record nothing else (a cache hit, a repeated receipt), committed before
        this returns. On SQLite every append queued for a write group is one insert in that group's
        transaction, rather than a unit of work (and a savepoint) of its own per request."""
        if self.engines.sync_write is None:
            await self.write(lambda uow: uow.audit.insert_audit(events))
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._appended.append((events, future))
        await asyncio.sleep(0)  # let the other requests that are ready queue theirs too
        async with self._write_lock:
            if not future.done():
                await self._lead()
        await future

    async def _group_write(self, fn: Callable[[UnitOfWork], Awaitable[T]], retries: int) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((fn, future, retries, tuple((var, var.get()) for var in self.carry)))
        await asyncio.sleep(0)  # let the other requests that are ready queue their writes too
        async with self._write_lock:
            if not future.done():
                await self._lead()
        return await future

    async def _lead(self) -> None:
        """Take everything queued so far and run it as one group (the caller holds the write lock)."""
        group, self._queued = self._queued, []
        appended, self._appended = self._appended, []
        await self._run_group(group, appended)

    async def _run_group(self, group: list[Queued], appended: list[Appended] | None = None) -> None:
        assert self.engines.sync_write is not None
        appended = appended or []
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self.engines.sync_write.begin() as conn:
                for fn, future, retries, carried in group:
                    with _restored(carried):
                        outcomes.append((future, *await self._run_unit(conn, fn, retries)))
                if appended:
                    events = [event for batch, _ in appended for event in batch]
                    _, error = await self._run_unit(conn, lambda uow: uow.audit.insert_audit(events), 1)
                    for _, future in appended:
                        outcomes.append((future, None, error))
        except BaseException as exc:  # the commit (or the group) failed: nobody's work is stored
            shared = exc if isinstance(exc, Exception) else RuntimeError("the write group was interrupted")
            for future in [f for _, f, _, _ in group] + [f for _, f in appended]:
                if not future.done():
                    future.set_exception(shared)
            if not isinstance(exc, Exception):
                raise
            return
        for future, result, error in outcomes:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def _run_unit(
        self, conn: Connection, fn: Callable[[UnitOfWork], Awaitable[Any]], retries: int
    ) -> tuple[Any, Exception | None]:
        # The savepoint is the driver's own statement (one ``execute``, not SQLAlchemy's nested
        # transaction object per unit); SQLAlchemy's root transaction around the group is unaware of it
        # and needs not be: every path below releases it before the next unit starts.
        driver = conn.connection.driver_connection  # pyright: ignore[reportOptionalMemberAccess] - a live pooled connection
        assert driver is not None
        for attempt in range(retries):
            driver.execute("SAVEPOINT unit")
            try:
                result = await self._run(fn, SqlUnitOfWork(conn, self.kind))
            except IntegrityError as exc:
                driver.execute("ROLLBACK TO unit")
                driver.execute("RELEASE unit")
                if attempt == retries - 1:
                    return None, exc
                continue  # an id collision: again with new ids
            except Exception as exc:
                driver.execute("ROLLBACK TO unit")
                driver.execute("RELEASE unit")
                return None, exc
            driver.execute("RELEASE unit")
            return result, None
        raise AssertionError("unreachable")

    @staticmethod
    async def _run(fn: Callable[[UnitOfWork], Awaitable[T]], uow: SqlUnitOfWork) -> T:
        result = await fn(uow)
        await uow.flush()
        return result

    async def read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        if self.engines.sync_read is not None:
            with self.engines.sync_read.connect() as conn:
                return await fn(SqlUnitOfWork(conn, self.kind))
        assert self.engines.read is not None  # create_engines sets the async pair when there is no sync one
        async with self.engines.read.connect() as conn:
            return await fn(SqlUnitOfWork(conn, self.kind))

    async def close(self) -> None:
        await self.engines.dispose()


@contextmanager
def _restored(carried: Carried) -> Iterator[None]:
    """Set the captured context variables for the duration of one queued function."""
    if not carried:
        yield
        return
    tokens = [(var, var.set(value)) for var, value in carried]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
