"""Outreach targets: stored documents, a compare-and-set claim for sending, and atomic open counts.

A send claims a target with one ``UPDATE … SET status = 'sending', claim_token = :token WHERE
target_id = :id AND (status IN ('draft', 'retry_scheduled') OR (status = 'sending' AND
lease_until_ms < :now))``. PostgreSQL makes a second, concurrent update of the row wait for the
first to commit and then re-checks the condition (no longer true: no row); SQLite writers are
serial. So exactly one of any number of concurrent sends gets the row, and only it sends.
Its outcome is written back only while its token still holds the claim.

Opens are counted by one ``UPDATE … SET open_count = open_count + 1`` on a sent target: no read
first, so concurrent opens all count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import and_, func, or_, select, update

from ...domain.outreach import CLAIMABLE_STATUSES, OutreachTarget
from . import schema as s
from .codec import decode, encode, epoch_ms
from .session import Repository


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


_T = s.outreach_targets
_COLUMNS = (
    _T.c.doc,
    _T.c.status,
    _T.c.open_count,
    _T.c.first_opened_at_ms,
    _T.c.last_opened_at_ms,
    _T.c.lease_until_ms,
)


def _target(row: Any) -> OutreachTarget:
    target = decode(row[0], OutreachTarget)
    return msgspec.structs.replace(
        target,
        status=row[1],
        open_count=int(row[2]),
        first_opened_at=_at(row[3]),
        last_opened_at=_at(row[4]),
    )


class SqlOutreach(Repository):
    """Implements ``ports.OutreachRepository``."""

    async def insert_outreach_target(self, target: OutreachTarget) -> None:
        await self._exec(
            _T.insert().values(
                target_id=target.target_id, lead_id=target.lead_id, status=target.status, doc=encode(target)
            )
        )

    async def get_outreach_target(self, target_id: str) -> tuple[OutreachTarget, datetime | None] | None:
        """The target and the lease of the send that holds it (None when no send does)."""
        row = (await self._exec(select(*_COLUMNS).where(_T.c.target_id == target_id))).first()
        return None if row is None else (_target(row), _at(row[5]))

    async def list_outreach_targets(
        self, lead_id: str | None = None, statuses: Sequence[str] = (), limit: int = 1000
    ) -> list[OutreachTarget]:
        stmt = select(*_COLUMNS).order_by(_T.c.seq).limit(limit)
        if lead_id:
            stmt = stmt.where(_T.c.lead_id == lead_id)
        if statuses:
            stmt = stmt.where(_T.c.status.in_(list(statuses)))
        return [_target(row) for row in await self._exec(stmt)]

    async def claim_outreach_target(
        self, target: OutreachTarget, token: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Claim the target for one send (``target`` is the claimed document); False when another send
        holds it or it is not in a state a send may start from."""
        now_ms = epoch_ms(now)
        stmt = (
            update(_T)
            .where(
                and_(
                    _T.c.target_id == target.target_id,
                    or_(
                        _T.c.status.in_(CLAIMABLE_STATUSES),
                        and_(_T.c.status == "sending", _T.c.lease_until_ms < now_ms),
                    ),
                )
            )
            .values(
                status="sending", claim_token=token, lease_until_ms=epoch_ms(lease_until), doc=encode(target)
            )
        )
        return (await self._exec(stmt)).rowcount == 1

    async def finish_outreach_target(self, target: OutreachTarget, token: str) -> bool:
        """Store the outcome of the send holding ``token``; False when its claim was lost meanwhile."""
        stmt = (
            update(_T)
            .where(and_(_T.c.target_id == target.target_id, _T.c.claim_token == token))
            .values(status=target.status, claim_token=None, lease_until_ms=None, doc=encode(target))
        )
        return (await self._exec(stmt)).rowcount == 1

    async def count_outreach_open(self, target_id: str, at: datetime) -> bool:
        """Count one open of a sent target; False when there is no such sent target (nothing written)."""
        at_ms = epoch_ms(at)
        stmt = (
            update(_T)
            .where(and_(_T.c.target_id == target_id, _T.c.status == "sent"))
            .values(
                open_count=_T.c.open_count + 1,
                first_opened_at_ms=func.coalesce(_T.c.first_opened_at_ms, at_ms),
                last_opened_at_ms=at_ms,
            )
        )
        return (await self._exec(stmt)).rowcount == 1
