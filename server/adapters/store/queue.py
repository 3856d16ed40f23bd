"""The retry queue's claims: which jobs are due, and the compare-and-sets that make a claim exclusive.

A job in ``processing`` belongs to the claim whose token is in ``claim_token``
until ``lease_until_ms``. Claiming is one ``UPDATE … WHERE`` that matches only
a job that is due (queued or rescheduled and due, or processing with an expired
claim) and still carries the status and token the claimant read; recording an
outcome matches only the claimant's own token. So whatever the hot state does,
the database lets one claim at a time submit a settlement, and a result that
arrives after its claim was lost can never be applied over the newer claim.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import and_, or_, select, update

from ...domain.models import SettlementReceipt, SettlementRetryJob
from . import schema as s
from .codec import decode, encode, epoch_ms
from .engine import claim_suffix

DUE_STATUSES = ("queued", "retry_scheduled")


class JobRow(NamedTuple):
    """A retry job with the claim columns that are not part of its document."""

    job: SettlementRetryJob
    lease_until_ms: int | None
    claim_token: str | None


def _due(now_ms: int) -> Any:
    t = s.retry_jobs
    return or_(
        and_(t.c.status.in_(DUE_STATUSES), t.c.next_run_at_ms <= now_ms),
        and_(t.c.status == "processing", or_(t.c.lease_until_ms.is_(None), t.c.lease_until_ms <= now_ms)),
    )


class RetryQueueQueries:
    """Mixed into ``repository.Tx``; relies on its ``_exec``, ``_docs``, ``_doc`` and ``kind``."""

    kind: str

    async def _exec(self, stmt: Any, params: Any = None) -> Any: ...  # provided by Tx

    async def due_retry_jobs(self, now_ms: int, limit: int) -> list[SettlementRetryJob]:
        """Jobs due now, oldest first: queued or rescheduled and due, or processing with an expired claim."""
        t = s.retry_jobs
        stmt = select(t.c.doc).where(_due(now_ms)).order_by(t.c.next_run_at_ms, t.c.seq).limit(limit)
        return [decode(row[0], SettlementRetryJob) for row in await self._exec(stmt)]

    async def retry_job_row(self, retry_job_id: str) -> JobRow | None:
        t = s.retry_jobs
        stmt = select(t.c.doc, t.c.lease_until_ms, t.c.claim_token).where(t.c.retry_job_id == retry_job_id)
        row = (await self._exec(stmt)).first()
        if row is None:
            return None
        return JobRow(decode(row[0], SettlementRetryJob), row[1], row[2])

    async def lock_settlement(self, settlement_id: str, *, skip_locked: bool = False) -> SettlementReceipt | None:
        """The settlement, its row locked for this transaction on PostgreSQL (SQLite writers are serial).

        Every change to a settlement and its job locks the settlement first, so the
        queue, disputes and replays take their locks in one order. With
        ``skip_locked`` a row another transaction holds reads as None (the queue
        passes it by instead of waiting).
        """
        t = s.settlements
        stmt = select(t.c.doc).where(t.c.settlement_id == settlement_id)
        if claim_suffix(self.kind):
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        row = (await self._exec(stmt)).first()
        return decode(row[0], SettlementReceipt) if row else None

    async def claim_retry_job(
        self, seen: JobRow, claimed: SettlementRetryJob, now_ms: int, token: str, lease_until_ms: int
    ) -> bool:
        """Take the job for one claim: matches only if it is still due and as ``seen`` (status, token)."""
        t = s.retry_jobs
        result = await self._exec(
            update(t)
            .where(
                and_(
                    t.c.retry_job_id == seen.job.retry_job_id,
                    t.c.status == seen.job.status,
                    t.c.claim_token.is_not_distinct_from(seen.claim_token),
                    _due(now_ms),
                )
            )
            .values(status=claimed.status, lease_until_ms=lease_until_ms, claim_token=token, doc=encode(claimed))
        )
        return result.rowcount == 1

    async def finish_claimed_job(self, job: SettlementRetryJob, token: str) -> bool:
        """Record the outcome of a claim: only the holder of ``token`` can, and only once."""
        t = s.retry_jobs
        result = await self._exec(
            update(t)
            .where(and_(t.c.retry_job_id == job.retry_job_id, t.c.status == "processing", t.c.claim_token == token))
            .values(
                status=job.status,
                next_run_at_ms=epoch_ms(job.next_run_at),
                lease_until_ms=None,
                claim_token=None,
                doc=encode(job),
            )
        )
        return result.rowcount == 1
