"""Retry jobs: the settlement outbox, its claims, and the status counters kept with them.

A job in ``processing`` belongs to the claim whose token is in ``claim_token``
until ``lease_until_ms``. Claiming is one ``UPDATE … WHERE`` that matches only
a job that is due (queued or rescheduled and due, or processing with an expired
claim) and still carries the status and token the claimant read; recording an
outcome matches only the claimant's own token. So whatever the hot state does,
the database lets one claim at a time submit a settlement, and a result that
arrives after its claim was lost can never be applied over the newer claim.

Every change of a job goes through ``save_job``, ``claim_job`` or ``finish_job``, which
move the ``retry_jobs:<status>`` counters in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from ...domain.models import RetryJobStatus, SettlementRetryJob
from ...domain.settlement import DUE_JOB_STATUSES
from . import schema as s
from . import statements as st
from .codec import decode, encode, epoch_ms
from .counters import SqlCounters
from .paging import keyset_page, unique
from .ports import MAX_SEQ, JobRow, KeysetPage
from .raw_sqlite import prebuilt
from .session import Repository, Session


def _due() -> Any:
    """Due at ``:now_ms`` (the statuses as equalities, not an expanding ``IN``: prebuilt statements)."""
    t = s.retry_jobs
    now_ms = bindparam("now_ms")
    return or_(
        and_(or_(*(t.c.status == status for status in DUE_JOB_STATUSES)), t.c.next_run_at_ms <= now_ms),
        and_(t.c.status == "processing", or_(t.c.lease_until_ms.is_(None), t.c.lease_until_ms <= now_ms)),
    )


# The worker's statements, built once (each claim and outcome runs them; ``raw_sqlite.py``).
@prebuilt
def _due_jobs() -> Any:
    t = s.retry_jobs
    return select(t.c.doc).where(_due()).order_by(t.c.next_run_at_ms, t.c.seq).limit(bindparam("limit"))


@prebuilt
def _job_row() -> Any:
    t = s.retry_jobs
    return select(t.c.doc, t.c.lease_until_ms, t.c.claim_token).where(t.c.retry_job_id == bindparam("k"))


@prebuilt
def _claim() -> Any:
    t = s.retry_jobs
    return (
        update(t)
        .where(
            and_(
                t.c.retry_job_id == bindparam("k"),
                t.c.status == bindparam("seen_status"),
                t.c.claim_token.is_not_distinct_from(bindparam("seen_token")),
                _due(),
            )
        )
        .values(
            status=bindparam("v_status"),
            lease_until_ms=bindparam("v_lease"),
            claim_token=bindparam("v_token"),
            doc=bindparam("v_doc"),
        )
    )


@prebuilt
def _finish() -> Any:
    t = s.retry_jobs
    return (
        update(t)
        .where(
            t.c.retry_job_id == bindparam("k"),
            t.c.status == "processing",
            t.c.claim_token == bindparam("token"),
        )
        .values(
            status=bindparam("v_status"),
            next_run_at_ms=bindparam("v_next"),
            lease_until_ms=None,
            claim_token=None,
            doc=bindparam("v_doc"),
        )
    )


class SqlRetryJobs(Repository):
    def __init__(self, session: Session, counters: SqlCounters) -> None:
        super().__init__(session)
        self.counters = counters

    # -- the changes, with their counters ---------------------------------------
    async def _count_move(self, before: SettlementRetryJob | None, after: SettlementRetryJob) -> None:
        if before is None or before.status != after.status:
            if before is not None:
                await self.counters.bump(f"retry_jobs:{before.status}", -1)
            await self.counters.bump(f"retry_jobs:{after.status}", 1)

    async def save_job(self, before: SettlementRetryJob | None, after: SettlementRetryJob) -> None:
        """Insert or change a job outside a claim (a change voids any claim on it)."""
        if before is None:
            await self.insert_retry_job(after)
        else:
            await self.update_retry_job(after)
        await self._count_move(before, after)

    async def claim_job(
        self, seen: JobRow, after: SettlementRetryJob, now_ms: int, token: str, lease_until_ms: int
    ) -> bool:
        """Move a due job to ``processing`` under claim ``token``, only if nobody changed it since
        ``seen``."""
        if not await self.claim_retry_job(seen, after, now_ms, token, lease_until_ms):
            return False
        await self._count_move(seen.job, after)
        return True

    async def finish_job(self, before: SettlementRetryJob, after: SettlementRetryJob, token: str) -> bool:
        """Record a claim's outcome on its job; False when the claim was lost (nothing is written)."""
        if not await self.finish_claimed_job(after, token):
            return False
        await self._count_move(before, after)
        return True

    # -- rows ----------------------------------------------------------------
    async def insert_retry_job(self, job: SettlementRetryJob) -> None:
        await self._exec(
            st.plain_insert("retry_jobs"),
            {
                "retry_job_id": job.retry_job_id,
                "settlement_id": job.settlement_id,
                "trace_id": job.trace_id,
                "status": job.status,
                "next_run_at_ms": epoch_ms(job.next_run_at),
                "doc": encode(job),
            },
        )

    async def update_retry_job(self, job: SettlementRetryJob) -> None:
        """Change a job outside a claim (dispute, replay, cancel): any claim on it is void from now on."""
        await self._exec(
            st.update_doc(
                "retry_jobs",
                "retry_job_id",
                ("status", "next_run_at_ms", "lease_until_ms", "claim_token", "doc"),
            ),
            {
                "k": job.retry_job_id,
                "v_status": job.status,
                "v_next_run_at_ms": epoch_ms(job.next_run_at),
                "v_lease_until_ms": None,
                "v_claim_token": None,
                "v_doc": encode(job),
            },
        )

    async def get_retry_job(self, retry_job_id: str) -> SettlementRetryJob | None:
        return await self._doc_by("retry_jobs", "retry_job_id", retry_job_id, SettlementRetryJob)

    async def get_retry_job_for(self, settlement_id: str) -> SettlementRetryJob | None:
        return await self._doc_by("retry_jobs", "settlement_id", settlement_id, SettlementRetryJob)

    # -- the queue's claims ------------------------------------------------------
    async def due_retry_jobs(self, now_ms: int, limit: int) -> list[SettlementRetryJob]:
        """Jobs due now, oldest first: queued or rescheduled and due, or processing with an expired claim."""
        rows = await self._exec(_due_jobs(), {"now_ms": now_ms, "limit": limit})
        return [decode(row[0], SettlementRetryJob) for row in rows]

    async def retry_job_row(self, retry_job_id: str) -> JobRow | None:
        row = (await self._exec(_job_row(), {"k": retry_job_id})).first()
        if row is None:
            return None
        return JobRow(decode(row[0], SettlementRetryJob), row[1], row[2])

    async def claim_retry_job(
        self, seen: JobRow, claimed: SettlementRetryJob, now_ms: int, token: str, lease_until_ms: int
    ) -> bool:
        """Take the job for one claim: matches only if it is still due and as ``seen`` (status, token)."""
        result = await self._exec(
            _claim(),
            {
                "k": seen.job.retry_job_id,
                "seen_status": seen.job.status,
                "seen_token": seen.claim_token,
                "now_ms": now_ms,
                "v_status": claimed.status,
                "v_lease": lease_until_ms,
                "v_token": token,
                "v_doc": encode(claimed),
            },
        )
        return result.rowcount == 1

    async def finish_claimed_job(self, job: SettlementRetryJob, token: str) -> bool:
        """Record the outcome of a claim: only the holder of ``token`` can, and only once."""
        result = await self._exec(
            _finish(),
            {
                "k": job.retry_job_id,
                "token": token,
                "v_status": job.status,
                "v_next": epoch_ms(job.next_run_at),
                "v_doc": encode(job),
            },
        )
        return result.rowcount == 1

    # -- listings ------------------------------------------------------------
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
        statuses = unique(statuses)
        conds = []
        if statuses:
            conds.append(t.c.status.in_(statuses))
        if settlement_id:
            conds.append(t.c.settlement_id == settlement_id)
        if trace_id:
            conds.append(t.c.trace_id == trace_id)
        total = (
            None
            if settlement_id or trace_id
            else await self.counters.counted("retry_jobs:", RetryJobStatus, statuses)
        )
        return await keyset_page(self.session, t, conds, before_seq, limit, SettlementRetryJob, total)
