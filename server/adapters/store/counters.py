"""Counters and intent flags: the numbers the dashboard and the listings' totals read.

A transaction's bumps are kept in memory and written as one upsert just before it
commits (``flush``), so a counter costs one statement per transaction however often it
moves, and counts exactly what committed.
"""

from __future__ import annotations

import random
from typing import Any, get_args

from sqlalchemy import func, select

from . import dialect
from . import schema as s
from .session import Repository, Session


class SqlCounters(Repository):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._shards = dialect.counter_shards(session.kind)
        self._bumps: dict[str, float] = {}

    async def mark_intent(self, intent_id: str, column: str) -> bool:
        """Flag an intent as evaluated/presented; True the first time (for distinct-intent KPIs).

        One upsert: a new intent is inserted flagged; an existing one is updated only while
        its flag is still 0, so exactly one transaction ever sees the change.
        """
        if column not in ("evaluated", "presented"):
            raise ValueError(f"unknown intent flag {column!r}")
        result = await self._exec(
            dialect.mark_intent(column),
            {"intent_id": intent_id, "e": int(column == "evaluated"), "p": int(column == "presented")},
        )
        return result.rowcount == 1

    async def bump(self, name: str, delta: float = 1) -> None:
        """Add to a counter when the transaction commits (all of a transaction's bumps are one upsert)."""
        self._bumps[name] = self._bumps.get(name, 0) + delta

    async def flush(self) -> None:
        """Write the pending counter changes; the store calls this just before commit."""
        pending = {name: delta for name, delta in self._bumps.items() if delta}
        self._bumps.clear()
        if not pending:
            return
        # Sorted names: concurrent transactions lock counter rows in one order (no deadlocks).
        names = sorted(pending)
        params: dict[str, Any] = {"shard": random.randrange(self._shards)}
        for i, name in enumerate(names):
            params[f"n{i}"] = name
            params[f"d{i}"] = pending[name]
        await self._exec(dialect.counters_upsert(len(names)), params)

    async def counter(self, name: str) -> float:
        stmt = select(func.coalesce(func.sum(s.counters.c.value), 0)).where(s.counters.c.name == name)
        return float((await self._exec(stmt)).scalar_one())

    async def counters_with_prefix(self, prefix: str) -> dict[str, float]:
        t = s.counters
        stmt = select(t.c.name, func.sum(t.c.value)).where(t.c.name.like(prefix + "%")).group_by(t.c.name)
        return {name[len(prefix) :]: float(v) for name, v in await self._exec(stmt)}

    async def counted(self, prefix: str, known: Any, keys: list[str]) -> int:
        """The sum of the counters ``prefix + key`` for ``keys`` (all of the ``known`` Literal's values
        if none)."""
        wanted = set(keys or get_args(known))
        counts = await self.counters_with_prefix(prefix)
        return int(sum(v for k, v in counts.items() if k in wanted))
