"""Settlement use cases: process the retry queue, dispute, and the dead-letter queue (spec §7).

Processing claims each due job in its own short transaction: a compare-and-set
in the database that hands the job to one claim token until its lease expires
(the hot-state lease lock in front of it only spares work). The billing gateway
is called outside any transaction, bounded by a total deadline shorter than the
lease, and the outcome is recorded in a second transaction only if the job still
carries the same claim token; a late answer for a lost claim goes to the audit
trail instead. So a settlement is never submitted by two claims at once, and a
job abandoned by a crash is claimed again once its lease runs out.

Every transaction that changes a settlement and its job locks the settlement row
first (PostgreSQL), so the queue, disputes and replays never deadlock each other.

``_record_outcome`` is long on purpose: every provider answer's effect on the settlement, its job
and the dead-letter queue is decided in the one transaction that still holds the claim.

The module stays whole (about 400 lines) because the queue, disputes and dead-letter replays are one
state machine over the same settlement and job rows, with the same locking order: cut apart, each half
would have to restate that order.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, Unpack

from ..adapters.store.codec import epoch_ms
from ..adapters.store.ports import Page, UnitOfWork
from ..domain import settlement as rules
from ..domain.billing import GatewayResult
from ..domain.errors import Conflict, NotFound, ValidationFailed
from ..domain.models import (
    AuditEvent,
    AuditStatus,
    Base,
    DeadLetterEntry,
    ReputationRecord,
    SettlementReceipt,
    SettlementRetryJob,
)
from ..domain.settlement import OPEN_JOB_STATUSES
from .context import AuditActor, Services, new_id
from .pages import numbered_page


class ProcessedItem(Base, kw_only=True):
    retry_job_id: str
    settlement_id: str
    outcome: str  # settled | rescheduled | failed | skipped
    settlement_status: str | None = None
    job_status: str | None = None
    attempts: int = 0
    provider_response_code: str | None = None
    message: str | None = None


class ProcessResult(Base, kw_only=True):
    processed_count: int = 0
    settled_count: int = 0
    rescheduled_count: int = 0
    failed_count: int = 0
    skipped_count: int = 0
    items: list[ProcessedItem] = []


class ReplayResult(Base, kw_only=True):
    dlq_entry: DeadLetterEntry
    retry_job: SettlementRetryJob | None
    settlement: SettlementReceipt


def _audit_settlement(
    svc: Services,
    s: SettlementReceipt,
    action: str,
    status: AuditStatus,
    details: dict[str, Any],
    **kw: Unpack[AuditActor],
) -> AuditEvent:
    return svc.audit(
        trace_id=s.trace_id or s.intent_id,
        entity_type="settlement",
        entity_id=s.settlement_id,
        action=action,
        status=status,
        details=details,
        provenance=s.data_provenance,
        **kw,
    )


async def process_queue(
    svc: Services, limit: int = 10, *, concurrency: int = 1, stop: asyncio.Event | None = None
) -> ProcessResult:
    """Process up to ``limit`` due jobs, at most ``concurrency`` of them in flight at once.

    Each job is still claimed once: the claim is a conditional update in the database (``_claim``),
    so running several at a time only overlaps their provider calls. With ``stop`` set, no job starts
    after it is set; the ones in flight finish (their answers are recorded).
    """
    result = ProcessResult()
    now = svc.clock()
    due = await svc.store.read(lambda uow: uow.retry_jobs.due_retry_jobs(epoch_ms(now), limit))
    for item in await _run_jobs(svc, due, concurrency, stop):
        result.items.append(item)
        if item.outcome == "skipped":
            result.skipped_count += 1
            continue
        result.processed_count += 1
        if item.outcome == "settled":
            result.settled_count += 1
        elif item.outcome == "rescheduled":
            result.rescheduled_count += 1
        else:
            result.failed_count += 1
    return result


async def _run_jobs(
    svc: Services, due: list[SettlementRetryJob], concurrency: int, stop: asyncio.Event | None
) -> list[ProcessedItem]:
    if concurrency <= 1:  # one after another; an error stops the rest
        items: list[ProcessedItem] = []
        for job in due:
            if stop is not None and stop.is_set():
                break
            items.append(await _process_one(svc, job))
        return items
    gate = asyncio.Semaphore(concurrency)

    async def one(job: SettlementRetryJob) -> ProcessedItem | None:
        async with gate:
            if stop is not None and stop.is_set():
                return None
            return await _process_one(svc, job)

    outcomes = await asyncio.gather(*(one(job) for job in due), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:  # every job in flight has finished (and recorded its answer) before this is raised
        raise errors[0]
    return [o for o in outcomes if isinstance(o, ProcessedItem)]


async def _process_one(svc: Services, job: SettlementRetryJob) -> ProcessedItem:
    skipped = ProcessedItem(retry_job_id=job.retry_job_id, settlement_id=job.settlement_id, outcome="skipped")
    lease_ms = svc.settings.settlement_retry_lease_ms
    # The hot-state lease only spares the database work when workers collide; the claim
    # in the database (``_claim``) is what makes a submission exclusive.
    lock_key = svc.hot.key(f"lock:settlement-retry:{job.retry_job_id}")
    lock = await svc.hot.acquire_lock(lock_key, lease_ms)
    if lock is None:
        skipped.message = "Another worker holds this job's lease."
        return skipped
    try:
        claimed = await svc.store.write(lambda uow: _claim(svc, uow, job))
        if isinstance(claimed, str):
            skipped.message = claimed
            return skipped
        claimed_job, settlement, token = claimed
        gateway_result = await svc.gateway.submit(settlement, claimed_job)
        return await svc.store.write(
            lambda uow: _record_outcome(svc, uow, claimed_job, token, gateway_result)
        )
    finally:
        await svc.hot.release_lock(lock_key, lock)


async def _claim(
    svc: Services, uow: UnitOfWork, due: SettlementRetryJob
) -> tuple[SettlementRetryJob, SettlementReceipt, str] | str:
    now = svc.clock()
    now_ms = epoch_ms(now)
    settlement = await uow.settlements.lock_settlement(due.settlement_id, skip_locked=True)
    seen = await uow.retry_jobs.retry_job_row(due.retry_job_id)
    if seen is None:
        return "The job no longer exists."
    job = seen.job
    if settlement is None:
        return "Another transaction holds this settlement; it is passed by for now."
    if job.status not in OPEN_JOB_STATUSES:
        return "The job is no longer open."
    if job.status == "processing":
        if seen.lease_until_ms is not None and seen.lease_until_ms > now_ms:
            return "Another claim holds this job until its lease expires."
    elif epoch_ms(job.next_run_at) > now_ms:
        return "The job is not due yet."
    if settlement.status not in rules.PAYABLE:
        await uow.retry_jobs.save_job(job, rules.cancel_job(job, "Settlement is no longer payable.", now))
        return "The settlement is no longer payable; its job was cancelled."
    started_job, started_settlement = rules.apply_attempt_start(job, settlement, now)
    token = secrets.token_hex(16)
    lease_until_ms = now_ms + svc.settings.settlement_retry_lease_ms
    if not await uow.retry_jobs.claim_job(seen, started_job, now_ms, token, lease_until_ms):
        return "Another worker claimed this job first."
    await uow.settlements.save_settlement(settlement, started_settlement)
    return started_job, started_settlement, token


async def _record_outcome(
    svc: Services, uow: UnitOfWork, claimed: SettlementRetryJob, token: str, result: GatewayResult
) -> ProcessedItem:
    now = svc.clock()
    item = ProcessedItem(
        retry_job_id=claimed.retry_job_id, settlement_id=claimed.settlement_id, outcome="skipped"
    )
    settlement = await uow.settlements.lock_settlement(claimed.settlement_id)
    applied: tuple[SettlementReceipt, SettlementRetryJob, SettlementReceipt, rules.Outcome] | None = None
    if settlement is not None and settlement.status == "processing":
        new_job, new_settlement, outcome = rules.apply_gateway_result(claimed, settlement, result, now)
        if await uow.retry_jobs.finish_job(claimed, new_job, token):
            applied = (settlement, new_job, new_settlement, outcome)
    if applied is None:
        # The claim expired and was taken again, or the settlement was disputed meanwhile: the
        # answer is kept in the audit trail, never applied over what happened since.
        await uow.audit.insert_audit(
            [
                svc.audit(
                    trace_id=claimed.trace_id,
                    entity_type="settlement",
                    entity_id=claimed.settlement_id,
                    action="settlement.result_discarded",
                    status="blocked",
                    details={
                        "retryJobId": claimed.retry_job_id,
                        "attempts": claimed.attempts,
                        "reason": "The claim on this job was lost before the provider answered.",
                        "providerState": result.provider_state,
                        "code": result.code,
                        "message": result.message,
                        "providerSettlementId": result.provider_settlement_id,
                        "gateway": svc.gateway.mode,
                    },
                    at=now,
                )
            ]
        )
        item.message = (
            "The claim on this job was lost before the outcome was recorded; the answer was audited."
        )
        item.provider_response_code = result.code
        return item
    settlement, new_job, new_settlement, outcome = applied
    await uow.settlements.save_settlement(settlement, new_settlement)
    events = [
        _audit_settlement(
            svc,
            new_settlement,
            f"settlement.{outcome}",
            "success" if outcome == "settled" else "failure",
            {
                "retryJobId": new_job.retry_job_id,
                "attempts": new_job.attempts,
                "providerState": result.provider_state,
                "code": result.code,
                "message": result.message,
                "gateway": svc.gateway.mode,
            },
        )
    ]
    existing = await uow.dead_letters.get_dead_letter_for(claimed.settlement_id)
    if outcome == "settled" and existing is not None and existing.status in ("open", "replayed"):
        resolved = rules.resolve(existing, "resolved", "Settlement eventually succeeded.", now)
        await uow.dead_letters.save_dead_letter(existing, resolved)
    elif outcome == "failed":
        entry = rules.open_dead_letter(
            existing,
            new_settlement,
            new_job,
            "worker_failed_max_attempts",
            new_settlement.last_error or result.message or result.code or "failed",
            new_id("dlq_"),
            now,
        )
        await uow.dead_letters.save_dead_letter(existing, entry)
    await uow.audit.insert_audit(events)
    item.outcome = outcome
    item.settlement_status = new_settlement.status
    item.job_status = new_job.status
    item.attempts = new_job.attempts
    item.provider_response_code = result.code
    item.message = result.message
    return item


async def dispute(svc: Services, settlement_id: str, reason: str | None = None) -> SettlementReceipt:
    async def work(uow: UnitOfWork) -> SettlementReceipt:
        now = svc.clock()
        settlement = await uow.settlements.lock_settlement(settlement_id)
        if settlement is None:
            raise NotFound(f"Settlement {settlement_id} was not found.")
        disputed = rules.dispute(settlement, now)
        await uow.settlements.save_settlement(settlement, disputed)
        job = await uow.retry_jobs.get_retry_job_for(settlement_id)
        if job is not None and job.status in OPEN_JOB_STATUSES:
            await uow.retry_jobs.save_job(job, rules.cancel_job(job, "Settlement disputed.", now))
        await uow.market.insert_reputation(
            ReputationRecord(
                record_id=f"rep_settlement_dispute_{settlement_id}",
                data_provenance=settlement.data_provenance,
                partner_id=settlement.partner_id,
                delta=-3,
                reason_type="settlement_dispute",
                evidence_refs=[settlement_id],
                dispute_status="under_review",
                occurred_at=now,
            )
        )
        await uow.audit.insert_audit(
            [
                _audit_settlement(
                    svc,
                    disputed,
                    "settlement.disputed",
                    "success",
                    {"reason": reason or ""},
                    actor_type="api",
                )
            ]
        )
        return disputed

    return await svc.store.write(work)


class DeadLetterPage(Base, kw_only=True):
    """One page of dead letters by number (``GET /settlements/dlq``)."""

    items: list[DeadLetterEntry]
    total: int
    page: int
    page_size: int
    has_next_page: bool
    has_previous_page: bool


async def page_dead_letters(
    svc: Services,
    status: str | None,
    trace_id: str | None,
    settlement_id: str | None,
    page: int,
    page_size: int,
) -> DeadLetterPage:
    found: Page = await svc.store.read(
        lambda uow: uow.dead_letters.page_dead_letters(status, trace_id, settlement_id, page, page_size)
    )
    return numbered_page(DeadLetterPage, found)


async def replay_dead_letter(svc: Services, dlq_entry_id: str, note: str | None) -> ReplayResult:
    async def work(uow: UnitOfWork) -> ReplayResult:
        now = svc.clock()
        entry = await uow.dead_letters.get_dead_letter(dlq_entry_id)
        if entry is None:
            raise NotFound(f"Dead-letter entry {dlq_entry_id} was not found.")
        settlement = await uow.settlements.lock_settlement(entry.settlement_id)
        job = await uow.retry_jobs.get_retry_job_for(entry.settlement_id)
        if settlement is None or job is None:
            raise Conflict(f"Dead-letter entry {dlq_entry_id} has no settlement or retry job to replay.")
        new_entry, new_settlement, new_job = rules.replay(entry, settlement, job, note, now)
        await uow.settlements.save_settlement(settlement, new_settlement)
        await uow.retry_jobs.save_job(job, new_job)
        await uow.dead_letters.save_dead_letter(entry, new_entry)
        await uow.audit.insert_audit(
            [
                _audit_settlement(
                    svc,
                    new_settlement,
                    "dlq.replayed",
                    "success",
                    {"dlqEntryId": dlq_entry_id, "note": note or ""},
                    actor_type="operator",
                )
            ]
        )
        return ReplayResult(dlq_entry=new_entry, retry_job=new_job, settlement=new_settlement)

    return await svc.store.write(work)


async def resolve_dead_letter(
    svc: Services, dlq_entry_id: str, status: str, note: str | None
) -> DeadLetterEntry:
    if status not in ("resolved", "ignored"):
        raise ValidationFailed(f"status must be 'resolved' or 'ignored', got {status!r}.", field="status")

    async def work(uow: UnitOfWork) -> DeadLetterEntry:
        now = svc.clock()
        entry = await uow.dead_letters.get_dead_letter(dlq_entry_id)
        if entry is None:
            raise NotFound(f"Dead-letter entry {dlq_entry_id} was not found.")
        new_entry = rules.resolve(entry, status, note, now)
        await uow.dead_letters.save_dead_letter(entry, new_entry)
        await uow.audit.insert_audit(
            [
                svc.audit(
                    trace_id=entry.trace_id,
                    entity_type="settlement",
                    entity_id=entry.settlement_id,
                    action=f"dlq.{status}",
                    status="success",
                    actor_type="operator",
                    details={"dlqEntryId": dlq_entry_id, "note": note or ""},
                )
            ]
        )
        return new_entry

    return await svc.store.write(work)
