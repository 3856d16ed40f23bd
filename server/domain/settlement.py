"""Settlements (spec §7): the state machine, the retry queue and the dead-letter queue.

Money moves only along the transitions in ``SETTLEMENT_TRANSITIONS``; anything
else is a ``Conflict`` naming both states. One attempt at the billing gateway is
``apply_attempt_start`` then ``apply_gateway_result``, which decides settle,
retry later (exponential backoff) or fail. A settlement that fails for good gets
one dead-letter entry, reused if it fails again after a replay. The gateway's
contract (§8) is in ``billing.py`` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, TypedDict, get_args

import msgspec

# The gateway contract lives in billing.py; re-exported so callers find every settlement rule here.
from .billing import CONTRACT_VERSIONS as CONTRACT_VERSIONS
from .billing import GENERIC_V1_CODES as GENERIC_V1_CODES
from .billing import LEDGER_V2_CODES as LEDGER_V2_CODES
from .billing import GatewayResult
from .billing import build_generic_v1_body as build_generic_v1_body
from .billing import build_ledger_v2_body as build_ledger_v2_body
from .billing import map_provider_response as map_provider_response
from .billing import minor_units as minor_units
from .billing import network_error as network_error
from .billing import simulated_outcome as simulated_outcome
from .errors import Conflict, ValidationFailed
from .models import (
    DeadLetterEntry,
    DlqStatus,
    RetryJobStatus,
    SettlementReceipt,
    SettlementRetryJob,
    SettlementStatus,
)

SETTLEMENT_TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "pending": frozenset({"processing", "disputed"}),
        "processing": frozenset({"settled", "retry_scheduled", "failed", "disputed"}),
        "retry_scheduled": frozenset({"processing", "failed", "disputed"}),
        "settled": frozenset(),
        "disputed": frozenset(),
        "failed": frozenset(),
    }
)
# Every status, in the spec's order (for counts and filters: the dashboard, the workbench's live lists).
SETTLEMENT_STATUSES: tuple[str, ...] = get_args(SettlementStatus)
RETRY_JOB_STATUSES: tuple[str, ...] = get_args(RetryJobStatus)
DLQ_STATUSES: tuple[str, ...] = get_args(DlqStatus)
# A settlement the provider may still be paid for; only those can be disputed.
PAYABLE = frozenset({"pending", "processing", "retry_scheduled"})
DISPUTABLE = PAYABLE
REPLAYABLE = frozenset({"failed", "disputed"})
DUE_JOB_STATUSES = frozenset({"queued", "retry_scheduled"})
OPEN_JOB_STATUSES = ("queued", "processing", "retry_scheduled")
DLQ_REASON_MAX_ATTEMPTS = "worker_failed_max_attempts"
EVENTUAL_SUCCESS_NOTE = "Settlement eventually succeeded."

# Leases: how long a claimed retry job is the claimant's (``SETTLEMENT_RETRY_LEASE_MS`` overrides it),
# and how long the settlement worker's leadership lasts without renewal (``..._LEADER_LEASE_MS``).
SETTLEMENT_RETRY_LEASE_MS = 10_000
WORKER_LEADER_LEASE_MS = 15_000

BACKOFF_BASE_SECONDS = 15
BACKOFF_CAP_SECONDS = 300

Outcome = Literal["settled", "rescheduled", "failed"]


def transition(settlement: SettlementReceipt, new_status: str, clock: datetime) -> SettlementReceipt:
    """Move to ``new_status`` if the state machine allows it, else ``Conflict`` naming both states."""
    allowed = SETTLEMENT_TRANSITIONS.get(settlement.status, frozenset())
    if new_status not in allowed:
        raise Conflict(
            f"Settlement {settlement.settlement_id} cannot move from {settlement.status} to {new_status}.",
            body={"status": settlement.status},
        )
    return msgspec.structs.replace(settlement, status=new_status, updated_at=clock)


def counts_as_spend(s: SettlementReceipt | None) -> bool:
    """Whether a settlement's amount counts against its campaign's budget (not failed, not disputed)."""
    return s is not None and s.status not in ("failed", "disputed") and not s.dispute_flag


def can_dispute(status: str) -> bool:
    """Only money not yet settled or failed can be disputed."""
    return status in DISPUTABLE


def backoff_seconds(attempts: int) -> int:
    """Delay before the next attempt after ``attempts`` tries: 15, 30, 60, 120, 240, then 300 at most."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))


def is_due(job: SettlementRetryJob, clock: datetime) -> bool:
    return job.status in DUE_JOB_STATUSES and job.next_run_at <= clock


# ---------------------------------------------------------------------------
# One attempt at the billing gateway
# ---------------------------------------------------------------------------


def apply_attempt_start(
    job: SettlementRetryJob, settlement: SettlementReceipt, clock: datetime
) -> tuple[SettlementRetryJob, SettlementReceipt]:
    """Begin an attempt: job → processing with one more attempt; settlement → processing.

    A job (and settlement) left in ``processing`` by a crashed worker may be
    started again once its lease has expired; that is not a transition.
    """
    if job.status not in DUE_JOB_STATUSES and job.status != "processing":
        raise Conflict(f"Retry job {job.retry_job_id} is {job.status} and cannot be processed.")
    if settlement.status != "processing":
        settlement = transition(settlement, "processing", clock)
    job = msgspec.structs.replace(
        job, status="processing", attempts=job.attempts + 1, last_attempt_at=clock, updated_at=clock
    )
    return job, settlement


def apply_gateway_result(
    job: SettlementRetryJob, settlement: SettlementReceipt, result: GatewayResult, clock: datetime
) -> tuple[SettlementRetryJob, SettlementReceipt, Outcome]:
    """Finish an attempt. ok → settled/completed; retryable with attempts left → both retry_scheduled,
    due after the backoff (or the provider's ``Retry-After``, when that is later); otherwise both failed (the caller then opens the dead letter)."""
    provider = {
        "provider_state": result.provider_state,
        "provider_response_code": result.code,
        "updated_at": clock,
    }
    if result.ok:
        settlement = transition(settlement, "settled", clock)
        settlement = msgspec.structs.replace(
            settlement,
            provider_settlement_id=result.provider_settlement_id,
            provider_reference=result.provider_reference,
            last_error=None,
            **provider,
        )
        return msgspec.structs.replace(job, status="completed", updated_at=clock), settlement, "settled"
    error = result.message or result.code or "The billing gateway refused the settlement."
    if result.retryable and job.attempts < job.max_attempts:
        settlement = transition(settlement, "retry_scheduled", clock)
        settlement = msgspec.structs.replace(settlement, last_error=error, **provider)
        job = msgspec.structs.replace(
            job,
            status="retry_scheduled",
            next_run_at=clock
            + timedelta(seconds=max(backoff_seconds(job.attempts), result.retry_after_seconds or 0)),
            last_error=error,
            updated_at=clock,
        )
        return job, settlement, "rescheduled"
    settlement = transition(settlement, "failed", clock)
    settlement = msgspec.structs.replace(settlement, last_error=error, **provider)
    job = msgspec.structs.replace(job, status="failed", last_error=error, updated_at=clock)
    return job, settlement, "failed"


# ---------------------------------------------------------------------------
# Dead-letter queue
# ---------------------------------------------------------------------------


class _DlqFields(TypedDict):
    """The fields ``open_dead_letter`` sets on a new or reopened ``DeadLetterEntry``."""

    retry_job_id: str | None
    trace_id: str
    status: DlqStatus
    reason: str
    last_error: str
    payload: dict[str, Any]
    updated_at: datetime
    resolved_at: datetime | None


def _snapshot(settlement: SettlementReceipt, job: SettlementRetryJob | None) -> dict[str, Any]:
    return {"settlement": msgspec.to_builtins(settlement), "retryJob": msgspec.to_builtins(job)}


def open_dead_letter(
    existing: DeadLetterEntry | None,
    settlement: SettlementReceipt,
    job: SettlementRetryJob | None,
    reason: str,
    last_error: str,
    dlq_entry_id: str,
    clock: datetime,
) -> DeadLetterEntry:
    """Open (or reopen) the settlement's one dead-letter entry with fresh snapshots.

    When ``existing`` is given it is reused (its id and ``createdAt`` kept,
    ``dlq_entry_id`` ignored): status back to ``open``, ``resolvedAt`` cleared.
    """
    fields: _DlqFields = {
        "retry_job_id": job.retry_job_id if job else None,
        "trace_id": settlement.trace_id or settlement.intent_id,
        "status": "open",
        "reason": reason,
        "last_error": last_error,
        "payload": _snapshot(settlement, job),
        "updated_at": clock,
        "resolved_at": None,
    }
    if existing is not None:
        if existing.settlement_id != settlement.settlement_id:
            raise ValueError("a dead-letter entry belongs to one settlement")
        return msgspec.structs.replace(existing, **fields)
    return DeadLetterEntry(
        dlq_entry_id=dlq_entry_id, settlement_id=settlement.settlement_id, created_at=clock, **fields
    )


def replay(
    entry: DeadLetterEntry,
    settlement: SettlementReceipt,
    job: SettlementRetryJob,
    note: str | None,
    clock: datetime,
) -> tuple[DeadLetterEntry, SettlementReceipt, SettlementRetryJob]:
    """An operator sends a dead settlement round again: settlement → retry_scheduled (dispute cleared),
    job → queued with 0 attempts due now, entry → replayed. Only an ``open`` entry can be replayed."""
    if entry.status != "open":
        raise Conflict(
            f"Dead-letter entry {entry.dlq_entry_id} is {entry.status}; only an open entry can be replayed."
        )
    if settlement.status not in REPLAYABLE:
        raise Conflict(
            f"Settlement {settlement.settlement_id} is {settlement.status}; only a failed or disputed "
            "settlement can be replayed."
        )
    settlement = msgspec.structs.replace(
        settlement, status="retry_scheduled", dispute_flag=False, updated_at=clock
    )
    job = msgspec.structs.replace(job, status="queued", attempts=0, next_run_at=clock, updated_at=clock)
    entry = msgspec.structs.replace(
        entry,
        status="replayed",
        resolution_note=note if note is not None else entry.resolution_note,
        updated_at=clock,
    )
    return entry, settlement, job


def resolve(entry: DeadLetterEntry, status: str, note: str | None, clock: datetime) -> DeadLetterEntry:
    """Close an entry as ``resolved`` or ``ignored`` (the entry only; the settlement is left as it is).

    Repeating the same closing status is a no-op; switching a closed entry to the other one is a Conflict.
    """
    if status not in ("resolved", "ignored"):
        raise ValidationFailed(f"status must be 'resolved' or 'ignored', not {status!r}.", field="status")
    if entry.status == status:
        return entry
    if entry.status in ("resolved", "ignored"):
        raise Conflict(f"Dead-letter entry {entry.dlq_entry_id} is already {entry.status}.")
    return msgspec.structs.replace(
        entry,
        status=status,
        resolution_note=note if note is not None else entry.resolution_note,
        resolved_at=clock,
        updated_at=clock,
    )


def cancel_job(job: SettlementRetryJob, reason: str, clock: datetime) -> SettlementRetryJob:
    """Stop a job that must not run again (its settlement was disputed or is no longer payable)."""
    return msgspec.structs.replace(job, status="cancelled", last_error=reason, updated_at=clock)


def dispute(settlement: SettlementReceipt, clock: datetime) -> SettlementReceipt:
    """Dispute a settlement that is not final yet: status ``disputed`` and ``disputeFlag`` set."""
    if not can_dispute(settlement.status):
        raise Conflict(
            f"Settlement {settlement.settlement_id} is {settlement.status}; only pending, processing or "
            "retry_scheduled settlements can be disputed."
        )
    return msgspec.structs.replace(transition(settlement, "disputed", clock), dispute_flag=True)
