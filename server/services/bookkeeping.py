"""Saving settlements, retry jobs and dead letters together with the numbers derived from them.

Committed campaign spend (budget gate), a partner's disputed-settlement count
(governed trust) and the dashboard's status counters are all derived from the
records' states. Every state change goes through these functions, in the same
transaction as the change, so the derived numbers can never drift from the rows.
"""

from __future__ import annotations

from typing import Literal

from ..adapters.store.queue import JobRow
from ..adapters.store.repository import Tx
from ..domain.errors import Conflict
from ..domain.models import DeadLetterEntry, SettlementReceipt, SettlementRetryJob

OPEN_JOB_STATUSES = ("queued", "processing", "retry_scheduled")


def _counts_as_spend(s: SettlementReceipt | None) -> bool:
    return s is not None and s.status not in ("failed", "disputed") and not s.dispute_flag


BillResult = Literal["created", "duplicate", "budget_exhausted"]


async def bill(tx: Tx, settlement: SettlementReceipt, budget: float) -> BillResult:
    """Insert a new ``pending`` settlement and commit its amount against the campaign's budget.

    The unique (intent, offer, event) key refuses a twin (``duplicate``); the guarded
    spend update refuses an amount that would take committed spend past ``budget``
    (``budget_exhausted``, and the settlement is taken back). Both are decided by the
    database inside this transaction, never by an earlier read.
    """
    if not await tx.insert_settlement(settlement):
        return "duplicate"
    if not await tx.add_campaign_spend_within(settlement.campaign_id, settlement.amount, budget):
        await tx.delete_settlement(settlement.settlement_id)
        return "budget_exhausted"
    await tx.bump(f"provenance:settlements:{settlement.data_provenance}")
    await tx.bump(f"settlements:{settlement.status}", 1)
    return "created"


async def record_existing(tx: Tx, settlement: SettlementReceipt) -> bool:
    """Store a settlement made before this database (the seed) with the numbers derived from it: its
    amount as committed spend unless it is failed or disputed (no budget check: it happened already),
    a disputed one in its partner's dispute count. No retry job: its billing is not this server's
    to do. False (nothing written) when a settlement for its (intent, offer, event) is stored already."""
    if not await tx.insert_settlement(settlement):
        return False
    if _counts_as_spend(settlement):
        await tx.add_campaign_spend(settlement.campaign_id, settlement.amount)
    if settlement.dispute_flag:
        await tx.add_partner_dispute(settlement.partner_id, 1)
    await tx.bump(f"provenance:settlements:{settlement.data_provenance}")
    await tx.bump(f"settlements:{settlement.status}", 1)
    return True


async def save_settlement(tx: Tx, before: SettlementReceipt, after: SettlementReceipt) -> None:
    """Change a settlement, keeping committed spend, dispute counts and status counters in step.

    A change that makes an amount count as spend again (a dead letter replayed) must
    still fit the campaign's budget: otherwise it is refused (409) and nothing changes.
    """
    await tx.update_settlement(after)
    spend_delta = (after.amount if _counts_as_spend(after) else 0.0) - (
        before.amount if _counts_as_spend(before) else 0.0
    )
    if spend_delta > 0:
        campaign = await tx.get_campaign(after.campaign_id)
        budget = campaign.budget if campaign is not None else 0.0
        if not await tx.add_campaign_spend_within(after.campaign_id, spend_delta, budget):
            raise Conflict(
                f"Settlement {after.settlement_id} cannot count against campaign {after.campaign_id} again: "
                f"its amount would take the campaign past its budget of {budget:g}."
            )
    elif spend_delta < 0:
        await tx.add_campaign_spend(after.campaign_id, spend_delta)
    if before.status != after.status:
        await tx.bump(f"settlements:{before.status}", -1)
        await tx.bump(f"settlements:{after.status}", 1)
    if after.dispute_flag and not before.dispute_flag:
        await tx.add_partner_dispute(after.partner_id, 1)
    elif before.dispute_flag and not after.dispute_flag:
        await tx.add_partner_dispute(after.partner_id, -1)


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
