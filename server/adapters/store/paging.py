"""The two ways the store pages a listing, newest first: by keyset and by page number.

Keyset (settlements, retry jobs, the credit ledger): a page is "the ``limit`` rows with
``seq`` below ``before_seq``, highest first", read with one more row than asked so the page
knows whether another follows, plus the total number of rows matching the filters. ``seq``
only grows, so a client following the pages sees every row that existed when it started
exactly once, however many rows are written meanwhile (new ones appear on a new first page).
Totals come from the status counters kept in the rows' transactions where the filters allow
it (the caller passes them), and from an indexed ``count(*)`` otherwise.

By number (the audit trail, dead letters): ``page_size`` rows after ``(page - 1) * page_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, func, select

from .codec import decode
from .ports import MAX_SEQ, KeysetPage, Page
from .session import Session

T = TypeVar("T")


def unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def _count(session: Session, table: Any, conds: list[Any]) -> int:
    count = select(func.count()).select_from(table)
    if conds:
        count = count.where(and_(*conds))
    return int((await session.exec(count)).scalar_one())


async def keyset_page(
    session: Session,
    table: Any,
    conds: list[Any],
    before_seq: int,
    limit: int,
    type_: type[T],
    total: int | None,
) -> KeysetPage[T]:
    stmt = select(table.c.seq, table.c.doc).where(table.c.seq < min(before_seq, MAX_SEQ))
    if conds:
        stmt = stmt.where(and_(*conds))
    rows = list(await session.exec(stmt.order_by(table.c.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if total is None:
        total = await _count(session, table, conds)
    return KeysetPage(
        items=[decode(doc, type_) for _, doc in rows],
        total=total,
        next_before_seq=int(rows[-1][0]) if more and rows else None,
    )


async def numbered_page(
    session: Session,
    table: Any,
    conds: list[Any],
    page: int,
    page_size: int,
    type_: type,
    known_total: int | None = None,
) -> Page:
    stmt = select(table.c.doc).order_by(table.c.seq.desc()).limit(page_size).offset((page - 1) * page_size)
    if conds:
        stmt = stmt.where(and_(*conds))
    items = await session.docs(stmt, type_)
    total = known_total if known_total is not None else await _count(session, table, conds)
    return Page(
        items=items,
        total=total,
        page=page,
        page_size=page_size,
        has_next_page=page * page_size < total,
        has_previous_page=page > 1,
    )
