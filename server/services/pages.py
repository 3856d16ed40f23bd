"""Paging: pages by number (``numbered_page``: dead letters, the audit trail) and, for settlements and
retry jobs, newest first with an opaque cursor.

A cursor is where the next page starts (the ``seq`` of the last row handed
out, as 8 bytes in unpadded base64url: 11 characters). Any such string is a
position ("rows older than this"), so every well-formed cursor is valid; a
malformed one is a 400 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from ..adapters.store.ports import MAX_SEQ, KeysetPage, Page
from ..domain.errors import ValidationFailed
from ..domain.models import END, SettlementReceipt, SettlementRetryJob
from .context import Services

T = TypeVar("T")
P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


class NumberedPageType(Protocol[P_co]):
    """A page type built from a numbered page's items and position (``AuditPage``, ``DeadLetterPage``)."""

    def __call__(
        self,
        *,
        items: Any,
        total: int,
        page: int,
        page_size: int,
        has_next_page: bool,
        has_previous_page: bool,
    ) -> P_co: ...


def numbered_page(page_type: NumberedPageType[P], page: Page) -> P:
    """A service's own page type (items and the page's position) filled from the store's page."""
    return page_type(
        items=page.items,
        total=page.total,
        page=page.page,
        page_size=page.page_size,
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
    )


CURSOR_PATTERN = "^[A-Za-z0-9_-]{11}" + END
_CURSOR = re.compile(CURSOR_PATTERN)
MAX_LIMIT = 1000
SETTLEMENTS_DEFAULT_LIMIT = 100
RETRY_JOBS_DEFAULT_LIMIT = 50


class CursorPage(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    next_cursor: str | None


def encode_cursor(before_seq: int) -> str:
    return base64.urlsafe_b64encode(before_seq.to_bytes(8, "big")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None) -> int:
    """The ``seq`` a cursor stands for (``MAX_SEQ``, the first page, without one)."""
    if cursor is None:
        return MAX_SEQ
    if not _CURSOR.match(cursor):
        raise ValidationFailed(
            f"cursor {cursor[:40]!r} is not a cursor this server hands out (11 characters of base64url, "
            "from the Link header of the previous page).",
            field="cursor",
        )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=")
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern admits only decodable text
        raise ValidationFailed(f"cursor {cursor!r} cannot be decoded.", field="cursor") from None
    return min(int.from_bytes(raw, "big"), MAX_SEQ)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.", field="limit")


def _cursor_page(page: KeysetPage[T]) -> CursorPage[T]:
    next_cursor = encode_cursor(page.next_before_seq) if page.next_before_seq is not None else None
    return CursorPage(items=page.items, total=page.total, next_cursor=next_cursor)


async def page_settlements(
    svc: Services,
    statuses: list[str],
    campaign_id: str | None,
    provenances: list[str],
    limit: int = SETTLEMENTS_DEFAULT_LIMIT,
    cursor: str | None = None,
) -> CursorPage[SettlementReceipt]:
    check_limit(limit)
    before = decode_cursor(cursor)
    page = await svc.store.read(
        lambda uow: uow.settlements.page_settlements(
            statuses, campaign_id, provenances, limit=limit, before_seq=before
        )
    )
    return _cursor_page(page)


async def page_retry_jobs(
    svc: Services,
    statuses: list[str],
    settlement_id: str | None,
    trace_id: str | None,
    limit: int = RETRY_JOBS_DEFAULT_LIMIT,
    cursor: str | None = None,
) -> CursorPage[SettlementRetryJob]:
    check_limit(limit)
    before = decode_cursor(cursor)
    page = await svc.store.read(
        lambda uow: uow.retry_jobs.page_retry_jobs(
            statuses, settlement_id, trace_id, limit=limit, before_seq=before
        )
    )
    return _cursor_page(page)
