"""Saving settlements, retry jobs and dead letters together with the numbers derived from them.

Committed campaign spend (budget gate), a partner's disputed-settlement count
(governed trust) and the dashboard's status counters are all derived from the
records' states. Every state change goes through these functions, in the same
transaction as the change, so the derived numbers can never drift from the rows.
"""

from __future__ import annotations

from ..adapters.store.queue import JobRow
from ..adapters.store.repository import Tx
from ..domain.models import DeadLetterEntry, SettlementReceipt, SettlementRetryJob

OPEN_JOB_STATUSES = ("queued", "processing", "retry_scheduled")


def _counts_as_spend(s: SettlementReceipt | None) -> bool:
    return s is not None and s.status not in ("failed", "disputed") and not s.dispute_flag


async def save_settlement(tx: Tx, before: SettlementReceipt | None, after: SettlementReceipt) -> bool:
    """Insert (``before`` is None) or update a settlement; False when the insert met an existing twin."""
    if before is None:
        if not await tx.insert_settlement(after):
            return False
        await tx.bump(f"provenance:settlements:{after.data_provenance}")
    else:
        await tx.update_settlement(after)
    spend_delta = (after.amount if _counts_as_spend(after) else 0.0) - (
        before.amount if _counts_as_spend(before) else 0.0
    )
    if spend_delta:
        await tx.add_campaign_spend(after.campaign_id, spend_delta)
    if before is None or before.status != after.status:
        if before is not None:
            await tx.bump(f"settlements:{before.status}", -1)
        await tx.bump(f"settlements:{after.status}", 1)
    was_disputed = before is not None and before.dispute_flag
    if after.dispute_flag and not was_disputed:
        await tx.add_partner_dispute(after.partner_id, 1)
    elif was_disputed and not after.dispute_flag:
        await tx.add_partner_dispute(after.partner_id, -1)
    return True


async def _count_job_move(tx: Tx, before: SettlementRetryJob | None, after: SettlementRetryJob) -> None:
    if before is None or before.status != after.status:
        if before is not None:
            await tx.bump(f"retry_jobs:{before.status}", -1)
        await tx.bump(f"retry_jobs:{after.status}", 1)


async def save_job(tx: Tx, before: SettlementRetryJob | None, after: SettlementRetryJob) -> None:
    """Insert or change a job outside a claim (a change voids any claim on it)."""
    if before is None:
        await tx.insert_retry_job(after)
    else:
        await tx.update_retry_job(after)
    await _count_job_move(tx, before, after)


async def claim_job(
    tx: Tx, seen: JobRow, after: SettlementRetryJob, now_ms: int, token: str, lease_until_ms: int
) -> bool:
    """Move a due job to ``processing`` under claim ``token``, only if nobody changed it since ``seen``."""
    if not await tx.claim_retry_job(seen, after, now_ms, token, lease_until_ms):
        return False
    await _count_job_move(tx, seen.job, after)
    return True


async def finish_job(tx: Tx, before: SettlementRetryJob, after: SettlementRetryJob, token: str) -> bool:
    """Record a claim's outcome on its job; False when the claim was lost (nothing is written)."""
    if not await tx.finish_claimed_job(after, token):
        return False
    await _count_job_move(tx, before, after)
    return True


async def save_dead_letter(tx: Tx, before: DeadLetterEntry | None, after: DeadLetterEntry) -> None:
    await tx.save_dead_letter(after, is_new=before is None)
    if before is None or before.status != after.status:
        if before is not None:
            await tx.bump(f"dlq:{before.status}", -1)
        await tx.bump(f"dlq:{after.status}", 1)
