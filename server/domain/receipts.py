"""Receipts and billing rules (spec §1 and §6): what a buyer agent's receipt means and what it costs.

A receipt is a fact reported by a buyer agent. These functions give it one
canonical shape (event-type aliases mapped, missing ids filled), decide whether
it is billable, what it costs in workspace credits, and build the settlement
and retry job it creates. Storage, idempotency and the wallet live in services.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal

import msgspec

from .errors import ValidationFailed
from .models import (
    CANONICAL_EVENT_TYPES,
    EXTRA_EVENT_TYPES,
    Base,
    BillingModel,
    Campaign,
    EventReceipt,
    SettlementReceipt,
    SettlementRetryJob,
)

SELLER_AGENT_ID = "promotion-agent"
DEFAULT_CPQR_BILLABLE_EVENT = "offer.shortlisted"
CPA_BILLABLE_EVENT = "conversion.attributed"
RETRY_MAX_ATTEMPTS = 3

# A receipt's idempotency key holds its first answer this long (spec §9); while one request records a
# receipt, a repeat waits for its lock at most this long.
RECEIPT_RESULT_TTL_MS = 15 * 60_000
RECEIPT_LOCK_LEASE_MS = 8_000

# Short names that earlier clients send, mapped on input.
EVENT_TYPE_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "shortlisted": "offer.shortlisted",
        "presented": "offer.presented",
        "shown": "offer.presented",
        "viewed": "owner.viewed",
        "detail_view": "owner.viewed",
        "interacted": "owner.interacted",
        "handoff": "owner.interacted",
        "conversion": "conversion.attributed",
    }
)
# What ``CPQR_BILLABLE_EVENT`` may name: the two CPQR billable events, by full or short name.
CPQR_BILLABLE_EVENTS = ("offer.shortlisted", "offer.presented")


def cpqr_billable_event(name: str) -> str | None:
    """The canonical CPQR billable event ``name`` stands for (an alias counts), or None."""
    key = name.strip().lower()
    event = EVENT_TYPE_ALIASES.get(key, key)
    return event if event in CPQR_BILLABLE_EVENTS else None


_KNOWN_EVENT_TYPES = frozenset(CANONICAL_EVENT_TYPES) | frozenset(EXTRA_EVENT_TYPES)

# Workspace credits a receipt consumes, by canonical event type; other types cost nothing.
CREDIT_COSTS: Mapping[str, int] = MappingProxyType(
    {
        "offer.shortlisted": 0,
        "offer.presented": 2,
        "owner.viewed": 3,
        "owner.interacted": 5,
        "conversion.attributed": 10,
    }
)


def canonical_event_type(value: str) -> str:
    """The canonical name of an event type (aliases mapped; case and surrounding spaces ignored).

    Raises ``ValidationFailed(field="eventType")`` for a type the exchange does not know.
    """
    key = value.strip().lower()
    if key in _KNOWN_EVENT_TYPES:
        return key
    if key in EVENT_TYPE_ALIASES:
        return EVENT_TYPE_ALIASES[key]
    accepted = ", ".join(list(CANONICAL_EVENT_TYPES) + list(EXTRA_EVENT_TYPES) + list(EVENT_TYPE_ALIASES))
    raise ValidationFailed(
        f"Unknown eventType {value!r}; accepted values are: {accepted}.", field="eventType"
    )


def _given(value: str | None) -> str | None:
    """A value the sender actually gave: None and blank strings count as missing."""
    return value if value is not None and value.strip() else None


def normalise_receipt(receipt: EventReceipt) -> EventReceipt:
    """Fill the defaults of §1 and canonicalise ``eventType``; values the sender gave always win.

    eventId ← receiptId; opportunityId ← intentId; traceId ← opportunityId;
    buyerAgentId ← partnerId; sellerAgentId ← "promotion-agent".
    """
    opportunity_id = _given(receipt.opportunity_id) or receipt.intent_id
    return msgspec.structs.replace(
        receipt,
        event_type=canonical_event_type(receipt.event_type),
        event_id=_given(receipt.event_id) or receipt.receipt_id,
        opportunity_id=opportunity_id,
        trace_id=_given(receipt.trace_id) or opportunity_id,
        buyer_agent_id=_given(receipt.buyer_agent_id) or receipt.partner_id,
        seller_agent_id=_given(receipt.seller_agent_id) or SELLER_AGENT_ID,
    )


def billable(
    billing_model: BillingModel | str,
    event_type: str,
    cpqr_billable_event: str = DEFAULT_CPQR_BILLABLE_EVENT,
) -> bool:
    """Whether a receipt of ``event_type`` creates a settlement for a campaign on ``billing_model``.

    CPQR bills its configured event (``offer.shortlisted`` by default, ``offer.presented``
    selectable; aliases accepted); CPA bills ``conversion.attributed`` only.
    """
    event = canonical_event_type(event_type)
    if billing_model == "CPQR":
        return event == canonical_event_type(cpqr_billable_event)
    if billing_model == "CPA":
        return event == CPA_BILLABLE_EVENT
    return False


def credit_cost(event_type: str) -> int:
    """Credits one receipt of this type consumes from the campaign's workspace."""
    return CREDIT_COSTS.get(canonical_event_type(event_type), 0)


def attribution_window(billing_model: BillingModel | str) -> Literal["session", "30d"]:
    """CPQR pays for the recommendation in the session; CPA for a conversion within 30 days."""
    if billing_model == "CPQR":
        return "session"
    if billing_model == "CPA":
        return "30d"
    raise ValidationFailed(f"Unknown billingModel {billing_model!r}.", field="billingModel")


def new_settlement(
    receipt: EventReceipt,
    campaign: Campaign,
    settlement_id: str,
    clock: datetime,
) -> SettlementReceipt:
    """The ``pending`` settlement a billable receipt creates: the campaign's payout in its currency."""
    trace_id = _given(receipt.trace_id) or _given(receipt.opportunity_id) or receipt.intent_id
    return SettlementReceipt(
        settlement_id=settlement_id,
        data_provenance=receipt.data_provenance,
        campaign_id=receipt.campaign_id,
        offer_id=receipt.offer_id,
        partner_id=receipt.partner_id,
        intent_id=receipt.intent_id,
        billing_model=campaign.billing_model,
        event_type=canonical_event_type(receipt.event_type),
        amount=campaign.payout_amount,
        currency=campaign.currency,
        attribution_window=attribution_window(campaign.billing_model),
        status="pending",
        dispute_flag=False,
        trace_id=trace_id,
        generated_at=clock,
        updated_at=clock,
    )


def new_retry_job(settlement: SettlementReceipt, retry_job_id: str, clock: datetime) -> SettlementRetryJob:
    """The retry job written with a new settlement: queued, due now, 0 of 3 attempts used."""
    return SettlementRetryJob(
        retry_job_id=retry_job_id,
        settlement_id=settlement.settlement_id,
        trace_id=settlement.trace_id or settlement.intent_id,
        status="queued",
        attempts=0,
        max_attempts=RETRY_MAX_ATTEMPTS,
        next_run_at=clock,
        created_at=clock,
        updated_at=clock,
    )


# ---------------------------------------------------------------------------
# Billing that cannot be gamed (spec §6)
# ---------------------------------------------------------------------------

MAX_FUTURE_SKEW = timedelta(minutes=5)
VerificationMode = Literal["off", "shortlist", "signed"]
NotBillableReason = Literal[
    "event_not_billable", "verification_failed", "campaign_not_active", "budget_exhausted"
]


class Verification(Base, kw_only=True, frozen=True):  # pyright: ignore[reportGeneralTypeIssues] - msgspec allows a frozen Struct on a non-frozen base; pyright applies dataclass rules
    """What receipt verification found: ``not_required`` (off), ``verified`` or ``failed`` (with why)."""

    status: Literal["not_required", "verified", "failed"]
    reason: str | None = None


class ReceiptOutcome(Base, kw_only=True):
    """What the exchange decided about a stored receipt: whether it bills, and why not."""

    billable: bool
    reason: NotBillableReason | None = None
    verification: Verification


NOT_REQUIRED = Verification(status="not_required")


def check_occurred_at(receipt: EventReceipt, clock: datetime) -> None:
    """A receipt reports something that happened: more than 5 minutes in the future is refused (400)."""
    if receipt.occurred_at.tzinfo is None:
        raise ValidationFailed(
            "occurredAt must carry a time zone (an ISO-8601 time ending in Z).", field="occurredAt"
        )
    if receipt.occurred_at > clock + MAX_FUTURE_SKEW:
        raise ValidationFailed(
            f"occurredAt {msgspec.to_builtins(receipt.occurred_at)} is more than 5 minutes in the future "
            f"(server time {msgspec.to_builtins(clock)}); a receipt reports what already happened.",
            field="occurredAt",
        )


def signing_message(receipt: EventReceipt, event_type: str, occurred_at: str) -> bytes:
    """``{receiptId}.{intentId}.{offerId}.{campaignId}.{partnerId}.{eventType}.{occurredAt}``."""
    parts = (
        receipt.receipt_id,
        receipt.intent_id,
        receipt.offer_id,
        receipt.campaign_id,
        receipt.partner_id,
        event_type,
        occurred_at,
    )
    return ".".join(parts).encode()


def receipt_signature(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256 of ``message`` with a partner's secret (what a buyer agent sends as ``signature``)."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _signed_forms(
    raw: EventReceipt, canonical: EventReceipt, occurred_at_text: str | None
) -> Iterable[bytes]:
    """The messages a valid signature may cover: the fields as sent, or in their canonical form."""
    times = {msgspec.to_builtins(canonical.occurred_at)}
    if occurred_at_text:
        times.add(occurred_at_text)
    for event_type in {raw.event_type, canonical.event_type}:
        for occurred_at in sorted(times):
            yield signing_message(canonical, event_type, occurred_at)


def verify(
    mode: VerificationMode | str,
    *,
    shortlisted: bool,
    secret: str | None,
    raw: EventReceipt,
    canonical: EventReceipt,
    occurred_at_text: str | None = None,
) -> Verification:
    """Receipt verification. ``shortlisted``: the exchange itself served that offer with that partner for
    that intent. ``signed`` also needs ``signature`` = HMAC of the fields with the partner's ``secret``."""
    if mode == "off":
        return NOT_REQUIRED
    if not shortlisted:
        return Verification(
            status="failed",
            reason=f"The exchange never shortlisted offer {canonical.offer_id} with partner {canonical.partner_id} "
            f"for intent {canonical.intent_id}.",
        )
    if mode == "signed":
        if not secret:
            return Verification(
                status="failed", reason=f"No signing secret is configured for partner {canonical.partner_id}."
            )
        given = canonical.signature.strip().lower()
        matched = False
        for message in _signed_forms(raw, canonical, occurred_at_text):
            # Every form is compared (no early exit) in constant time.
            matched |= hmac.compare_digest(receipt_signature(secret, message), given)
        if not matched:
            return Verification(
                status="failed",
                reason="The signature does not match the receipt (HMAC-SHA256 with the partner's secret).",
            )
    return Verification(status="verified")


def decide(
    *,
    billable_event: bool,
    verification: Verification,
    campaign_status: str,
) -> ReceiptOutcome:
    """Whether a receipt may create a settlement, before the budget is checked (in the same transaction)."""
    if not billable_event:
        return ReceiptOutcome(billable=False, reason="event_not_billable", verification=verification)
    if verification.status == "failed":
        return ReceiptOutcome(billable=False, reason="verification_failed", verification=verification)
    if campaign_status != "active":
        return ReceiptOutcome(billable=False, reason="campaign_not_active", verification=verification)
    return ReceiptOutcome(billable=True, verification=verification)
