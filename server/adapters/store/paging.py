"""Listing settlements and retry jobs, newest first, one keyset page at a time.

A page is "the ``limit`` rows with ``seq`` below ``before_seq``, highest first",
read with one more row than asked so the page knows whether another follows,
plus the total number of rows matching the filters. ``seq`` only grows, so a
client following the pages sees every row that existed when it started exactly
once, however many rows are written meanwhile (new ones appear on a new first
page). Totals come from the status counters kept in the rows' transactions
where the filters allow it, and from an indexed ``count(*)`` otherwise.

``Tx`` (``repository.py``) inherits these queries: it stays the one entry point.
"""

from __future__ import annotations

from typing import Any, Generic, Sequence, TypeVar, get_args

import msgspec
from sqlalchemy import and_, func, select

from ...domain.models import (
    DataProvenance,
    RetryJobStatus,
    SettlementReceipt,
    SettlementRetryJob,
    SettlementStatus,
)
from . import schema as s

T = TypeVar("T")

MAX_SEQ = 2**63 - 1  # the largest BIGINT: "before MAX_SEQ" is the first page


class KeysetPage(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    next_before_seq: int | None  # where the next page starts, None on the last page


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


class ListingQueries:
    """The settlement and retry-job listings of ``Tx`` (which has ``_exec`` and ``counters_with_prefix``)."""

    _exec: Any
    counters_with_prefix: Any

    async def _keyset_page(
        self, table: Any, conds: list[Any], before_seq: int, limit: int, type_: type[T], total: int | None
    ) -> KeysetPage[T]:
        from .repository import decode

        stmt = select(table.c.seq, table.c.doc).where(table.c.seq < min(before_seq, MAX_SEQ))
        if conds:
            stmt = stmt.where(and_(*conds))
        rows = list(await self._exec(stmt.order_by(table.c.seq.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        if total is None:
            count = select(func.count()).select_from(table)
            if conds:
                count = count.where(and_(*conds))
            total = int((await self._exec(count)).scalar_one())
        return KeysetPage(
            items=[decode(doc, type_) for _, doc in rows],
            total=total,
            next_before_seq=int(rows[-1][0]) if more and rows else None,
        )

    async def _counted(self, prefix: str, known: Any, keys: list[str]) -> int:
        """The sum of the counters ``prefix + key`` for ``keys`` (all of the ``known`` Literal's values if none)."""
        wanted = set(keys or get_args(known))
        counts = await self.counters_with_prefix(prefix)
        return int(sum(v for k, v in counts.items() if k in wanted))

    # -- settlements -------------------------------------------------------
    @staticmethod
    def _settlement_conds(
        statuses: Sequence[str], campaign_id: str | None, provenances: Sequence[str]
    ) -> list[Any]:
        t = s.settlements
        conds = []
        if statuses:
            conds.append(t.c.status.in_(list(statuses)))
        if campaign_id:
            conds.append(t.c.campaign_id == campaign_id)
        if provenances:
            conds.append(t.c.provenance.in_(list(provenances)))
        return conds

    async def list_settlements(
        self,
        statuses: Sequence[str] = (),
        campaign_id: str | None = None,
        provenances: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[SettlementReceipt]:
        page = await self.page_settlements(statuses, campaign_id, provenances, limit=limit)
        return page.items

    async def page_settlements(
        self,
        statuses: Sequence[str] = (),
        campaign_id: str | None = None,
        provenances: Sequence[str] = (),
        *,
        limit: int = 100,
        before_seq: int = MAX_SEQ,
    ) -> KeysetPage[SettlementReceipt]:
        statuses, provenances = _unique(statuses), _unique(provenances)
        total: int | None = None
        if not campaign_id and not provenances:
            total = await self._counted("settlements:", SettlementStatus, statuses)
        elif not campaign_id and not statuses:
            total = await self._counted("provenance:settlements:", DataProvenance, provenances)
        conds = self._settlement_conds(statuses, campaign_id, provenances)
        return await self._keyset_page(s.settlements, conds, before_seq, limit, SettlementReceipt, total)

    # -- retry jobs --------------------------------------------------------
    async def list_retry_jobs(
        self,
        statuses: Sequence[str] = (),
        settlement_id: str | None = None,
        trace_id: str | None = None,
        limit: int = 50,
    ) -> list[SettlementRetryJob]:
        page = await self.page_retry_jobs(statuses, settlement_id, trace_id, limit=limit)
        return page.items

    async def page_retry_jobs(
        self,
        statuses: Sequence[str] = (),
        settlement_id: str | None = None,
        trace_id: str | None = None,
        *,
        limit: int = 50,
        before_seq: int = MAX_SEQ,
    ) -> KeysetPage[SettlementRetryJob]:
        t = s.retry_jobs
        statuses = _unique(statuses)
        conds = []
        if statuses:
            conds.append(t.c.status.in_(statuses))
        if settlement_id:
            conds.append(t.c.settlement_id == settlement_id)
        if trace_id:
            conds.append(t.c.trace_id == trace_id)
        total = None if settlement_id or trace_id else await self._counted("retry_jobs:", RetryJobStatus, statuses)
        return await self._keyset_page(t, conds, before_seq, limit, SettlementRetryJob, total)
