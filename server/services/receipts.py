"""Receipts: exactly-once intake, billing, and the settlement outbox (spec §6).

Three layers keep a receipt from counting twice: a cached result per receipt id
(fast repeat answers), a lease lock per receipt id (a concurrent twin waits for
the first one's answer), and the database's unique receipt id as the last word
(``INSERT … ON CONFLICT DO NOTHING``, never read-then-write). The receipt, its
settlement, the settlement's retry job, counters and audit events commit in one
transaction.

The receipt also consumes its credits from the campaign's workspace wallet in that
same transaction (``services.wallet``): once per receipt id, never refused for lack of
credits (the balance may go below zero). When that charge closes the workspace's
``credits`` gate, the response cache is invalidated after the commit, so the next
evaluation stops serving the workspace's campaigns.

A receipt bills only what was earned: it must pass verification
(``RECEIPT_VERIFICATION``: the exchange served that slot, and with ``signed`` the
partner's HMAC), name an active campaign, and fit the campaign's budget (a
guarded update in the same transaction). A receipt that fails any of these is
still stored, with the reason, and audited; it just creates no settlement.

``_store_receipt`` is one function on purpose: it is the one transaction of the money path, and
its steps (receipt, verification, billing rule, settlement, retry job, credits, audit) read in the
order they commit; cut into helpers, that order would have to be pieced back together.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ..adapters.store.ports import UnitOfWork
from ..domain import receipts as rules
from ..domain.errors import ServiceUnavailable, Unprocessable
from ..domain.models import Base, EventReceipt, SettlementReceipt
from ..domain.receipts import (
    NOT_REQUIRED,
    RECEIPT_LOCK_LEASE_MS,
    RECEIPT_RESULT_TTL_MS,
    NotBillableReason,
    Verification,
)
from . import exchange
from . import wallet as wallets
from .context import Services, new_id


class ReceiptResult(Base, kw_only=True):
    receipt: EventReceipt
    settlement: SettlementReceipt | None
    deduplicated: bool
    # Whether the receipt created (or shares) a settlement, and if not why: event_not_billable,
    # verification_failed, campaign_not_active or budget_exhausted.
    billable: bool = False
    billing_reason: NotBillableReason | None = None
    verification: Verification = NOT_REQUIRED


_result_decoder = msgspec.json.Decoder(ReceiptResult)


async def record_receipt(
    svc: Services, raw: EventReceipt, *, occurred_at_text: str | None = None
) -> ReceiptResult:
    """Store a receipt once. ``deduplicated`` tells the caller whether it was a repeat (200) or new (201).

    ``occurred_at_text``: ``occurredAt`` exactly as the sender wrote it (a signature may cover that form).
    """
    receipt = rules.normalise_receipt(raw)
    if svc.settings.real_data_only and receipt.data_provenance != "real_event":
        raise Unprocessable(
            f"dataProvenance must be real_event in real_test mode, got {receipt.data_provenance!r}.",
            field="dataProvenance",
        )
    rules.check_occurred_at(receipt, svc.clock())
    result_key = svc.hot.key(f"idempotency:receipt:{receipt.receipt_id}:result")
    lock_key = svc.hot.key(f"lock:receipt:{receipt.receipt_id}")

    cached = await svc.hot.get(result_key)
    if cached is not None:
        return await _deduplicated(svc, receipt, _result_decoder.decode(cached))

    token = await svc.hot.acquire_lock(lock_key, RECEIPT_LOCK_LEASE_MS)
    if token is None:
        # A twin is being recorded right now: wait for its answer (bounded by its lease).
        waited = 0.0
        while waited < RECEIPT_LOCK_LEASE_MS / 1000:
            await asyncio.sleep(0.005)
            waited += 0.005
            cached = await svc.hot.get(result_key)
            if cached is not None:
                return await _deduplicated(svc, receipt, _result_decoder.decode(cached))
            token = await svc.hot.acquire_lock(lock_key, RECEIPT_LOCK_LEASE_MS)
            if token is not None:
                break
    try:
        result, gate_moved = await svc.store.write(
            lambda uow: _store_receipt(svc, uow, raw, receipt, occurred_at_text)
        )
        if gate_moved:
            await exchange.invalidate_responses(svc)
        if result.deduplicated:
            result = await _deduplicated(svc, receipt, result)
        await svc.hot.set(
            result_key,
            msgspec.json.encode(msgspec.structs.replace(result, deduplicated=False)),
            RECEIPT_RESULT_TTL_MS,
        )
        return result
    except ServiceUnavailable:
        # The hot state went away mid-way: answer 503 now rather than wait on it once more to
        # release the lock, which expires by itself after its lease.
        token = None
        raise
    finally:
        if token is not None:
            await svc.hot.release_lock(lock_key, token)


async def _validate_references(uow: UnitOfWork, receipt: EventReceipt):
    campaign = await uow.market.get_campaign(receipt.campaign_id)
    if campaign is None:
        raise Unprocessable(
            f"campaignId {receipt.campaign_id!r} is not a known campaign.", field="campaignId"
        )
    if campaign.offer.offer_id != receipt.offer_id:
        raise Unprocessable(
            f"offerId {receipt.offer_id!r} is not the offer of campaign {receipt.campaign_id!r} "
            f"(expected {campaign.offer.offer_id!r}).",
            field="offerId",
        )
    partner = await uow.market.get_partner(receipt.partner_id)
    if partner is None:
        raise Unprocessable(f"partnerId {receipt.partner_id!r} is not a known partner.", field="partnerId")
    return campaign


async def _verify(svc: Services, uow: UnitOfWork, raw: EventReceipt, receipt: EventReceipt, text: str | None):
    mode = svc.settings.receipt_verification
    if mode == "off":
        return rules.NOT_REQUIRED
    served = await uow.receipts.served_campaign(receipt.intent_id, receipt.offer_id, receipt.partner_id)
    return rules.verify(
        mode,
        shortlisted=served == receipt.campaign_id,
        secret=svc.state.get("receipt_secrets", {}).get(receipt.partner_id),
        raw=raw,
        canonical=receipt,
        occurred_at_text=text,
    )


async def _store_receipt(
    svc: Services, uow: UnitOfWork, raw: EventReceipt, receipt: EventReceipt, occurred_at_text: str | None
) -> tuple[ReceiptResult, bool]:
    """The receipt and all it causes, in one transaction; and whether its charge moved a credits gate."""
    now = svc.clock()
    campaign = await _validate_references(uow, receipt)
    verification = await _verify(svc, uow, raw, receipt, occurred_at_text)
    outcome = rules.decide(
        billable_event=rules.billable(
            campaign.billing_model, receipt.event_type, svc.settings.cpqr_billable_event
        ),
        verification=verification,
        campaign_status=campaign.status,
    )
    settlement = rules.new_settlement(receipt, campaign, new_id("set_"), now) if outcome.billable else None
    if settlement is not None and svc.settings.real_data_only:
        # real_test bills against a sandbox provider: its settlements say so.
        settlement = msgspec.structs.replace(settlement, data_provenance="sandbox_settlement")

    settlement_id = settlement.settlement_id if settlement else None
    if not await uow.receipts.insert_receipt(receipt, settlement_id, outcome):
        stored = await uow.receipts.get_receipt(receipt.receipt_id)
        assert stored is not None  # the insert conflicted on it inside this transaction
        existing = (
            await uow.settlements.get_settlement(stored.settlement_id) if stored.settlement_id else None
        )
        return _result(stored.receipt, existing, stored.outcome, deduplicated=True), False

    trace_id = receipt.trace_id or receipt.intent_id
    actor = receipt.buyer_agent_id or receipt.partner_id
    details: dict[str, Any] = {
        "campaignId": receipt.campaign_id,
        "offerId": receipt.offer_id,
        "eventType": receipt.event_type,
    }
    if verification.status != "not_required":
        details["verification"] = msgspec.to_builtins(verification)
    events = [
        svc.audit(
            trace_id=trace_id,
            entity_type="receipt",
            entity_id=receipt.receipt_id,
            action=f"receipt.{receipt.event_type}",
            status="success" if verification.status != "failed" else "blocked",
            actor_type="buyer_agent",
            actor_id=actor,
            details=details,
            provenance=receipt.data_provenance,
            at=now,
        )
    ]
    await uow.counters.bump(f"provenance:receipts:{receipt.data_provenance}")
    if verification.status == "failed":
        # Kept, never lost, but not counted as a placement that happened.
        await uow.counters.bump("receipts:unverified")
    else:
        await uow.counters.bump(f"receipts:{receipt.event_type}")
        if receipt.event_type == "offer.presented":
            if campaign.disclosure_text.strip():
                await uow.counters.bump("receipts:presented_with_disclosure")
            if await uow.counters.mark_intent(receipt.intent_id, "presented"):
                await uow.counters.bump("intents:presented")

    if settlement is not None:
        billed = await uow.settlements.bill(settlement, campaign.budget)
        if billed == "created":
            job = rules.new_retry_job(settlement, new_id("retry_"), now)
            await uow.retry_jobs.save_job(None, job)
            events.append(
                svc.audit(
                    trace_id=settlement.trace_id or receipt.intent_id,
                    entity_type="settlement",
                    entity_id=settlement.settlement_id,
                    action="settlement.created",
                    status="success",
                    details={
                        "amount": settlement.amount,
                        "currency": settlement.currency,
                        "billingModel": settlement.billing_model,
                        "retryJobId": job.retry_job_id,
                    },
                    provenance=receipt.data_provenance,
                    at=now,
                )
            )
        elif billed == "duplicate":
            # Another receipt (other id, same intent/offer/event) was billed already: bill once.
            settlement = await uow.settlements.get_settlement_for(
                receipt.intent_id, receipt.offer_id, receipt.event_type
            )
            await uow.receipts.set_receipt_settlement(
                receipt.receipt_id, settlement.settlement_id if settlement else None, outcome
            )
        else:
            settlement = None
            outcome = rules.ReceiptOutcome(
                billable=False, reason="budget_exhausted", verification=verification
            )
            await uow.receipts.set_receipt_settlement(receipt.receipt_id, None, outcome)
    charged = await wallets.charge_receipt(uow, receipt, campaign, verification, now)
    if charged is not None:  # shown in the receipt's audit event (not written yet)
        details["credits"] = {
            "workspaceId": campaign.workspace_id,
            "charged": -charged.entry.amount,
            "balanceAfter": charged.entry.balance_after,
        }
    if not outcome.billable and outcome.reason != "event_not_billable":
        await uow.counters.bump(f"receipts:not_billable:{outcome.reason}")
        events.append(
            svc.audit(
                trace_id=trace_id,
                entity_type="receipt",
                entity_id=receipt.receipt_id,
                action="receipt.not_billed",
                status="blocked",
                actor_type="buyer_agent",
                actor_id=actor,
                details={
                    "reason": outcome.reason,
                    "campaignId": receipt.campaign_id,
                    "campaignStatus": campaign.status,
                    "budget": campaign.budget,
                    "verification": msgspec.to_builtins(verification),
                },
                provenance=receipt.data_provenance,
                at=now,
            )
        )
    await uow.audit.insert_audit(events)
    return _result(receipt, settlement, outcome, deduplicated=False), wallets.gate_moved(charged)


def _result(
    receipt: EventReceipt,
    settlement: SettlementReceipt | None,
    outcome: rules.ReceiptOutcome | None,
    *,
    deduplicated: bool,
) -> ReceiptResult:
    if outcome is None:  # stored before outcomes were recorded
        outcome = rules.ReceiptOutcome(billable=settlement is not None, verification=rules.NOT_REQUIRED)
    return ReceiptResult(
        receipt=receipt,
        settlement=settlement,
        deduplicated=deduplicated,
        billable=outcome.billable,
        billing_reason=outcome.reason,
        verification=outcome.verification,
    )


async def _deduplicated(svc: Services, receipt: EventReceipt, result: ReceiptResult) -> ReceiptResult:
    event = svc.audit(
        trace_id=receipt.trace_id or receipt.intent_id,
        entity_type="idempotency",
        entity_id=receipt.receipt_id,
        action="receipt.deduplicated",
        status="deduplicated",
        actor_type="buyer_agent",
        actor_id=receipt.buyer_agent_id or receipt.partner_id,
        provenance=receipt.data_provenance,
    )
    await svc.store.append_audit([event])
    return msgspec.structs.replace(result, deduplicated=True)
