"""Receipts (spec §1 and §6): event-type aliases, defaults, billing rule, credits, new settlement and job."""

from __future__ import annotations

import hashlib
import hmac
import typing
from datetime import timedelta

import msgspec
import pytest

from server.domain.errors import ValidationFailed
from server.domain.models import CANONICAL_EVENT_TYPES, EXTRA_EVENT_TYPES, EventType
from server.domain.receipts import (
    CREDIT_COSTS,
    EVENT_TYPE_ALIASES,
    attribution_window,
    billable,
    canonical_event_type,
    check_occurred_at,
    credit_cost,
    decide,
    new_retry_job,
    new_settlement,
    normalise_receipt,
    receipt_signature,
    signing_message,
    verify,
)

from .factories import SEED_CLOCK, hubflow, receipt, signalstack

ALIASES = {
    "shortlisted": "offer.shortlisted",
    "presented": "offer.presented",
    "shown": "offer.presented",
    "viewed": "owner.viewed",
    "detail_view": "owner.viewed",
    "interacted": "owner.interacted",
    "handoff": "owner.interacted",
    "conversion": "conversion.attributed",
}


# ---------------------------------------------------------------------------
# Event types
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("alias", "canonical"), sorted(ALIASES.items()))
def test_every_alias_maps_to_its_canonical_type(alias, canonical):
    assert canonical_event_type(alias) == canonical


def test_the_alias_table_is_exactly_the_spec():
    assert dict(EVENT_TYPE_ALIASES) == ALIASES


@pytest.mark.parametrize("event_type", CANONICAL_EVENT_TYPES + EXTRA_EVENT_TYPES)
def test_canonical_and_extra_types_pass_through(event_type):
    assert canonical_event_type(event_type) == event_type


def test_case_and_spaces_are_ignored():
    assert canonical_event_type(" Presented ") == "offer.presented"
    assert canonical_event_type("OFFER.SHORTLISTED") == "offer.shortlisted"


@pytest.mark.parametrize("value", ["clicked", "offer", "", "offer.presented.x", "conversions"])
def test_unknown_types_are_refused_with_the_field(value):
    with pytest.raises(ValidationFailed) as err:
        canonical_event_type(value)
    assert err.value.field == "eventType"
    assert err.value.status_code == 400


# ---------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------


def test_defaults_are_filled():
    r = normalise_receipt(receipt(eventType="shortlisted"))
    assert r.event_type == "offer.shortlisted"
    assert r.event_id == "rcpt_1"  # <- receiptId
    assert r.opportunity_id == "intent_1"  # <- intentId
    assert r.trace_id == "intent_1"  # <- opportunityId
    assert r.buyer_agent_id == "partner_procure_pilot"  # <- partnerId
    assert r.seller_agent_id == "promotion-agent"
    assert r.environment == "test" and r.spec_version == "1.0"
    # untouched
    assert (r.receipt_id, r.intent_id, r.offer_id, r.signature) == (
        "rcpt_1",
        "intent_1",
        "offer_hubflow",
        "sig_1",
    )


def test_given_values_win():
    r = normalise_receipt(
        receipt(
            eventId="evt_9",
            opportunityId="opp_9",
            buyerAgentId="agent_9",
            sellerAgentId="seller_9",
        )
    )
    assert (r.event_id, r.opportunity_id, r.buyer_agent_id, r.seller_agent_id) == (
        "evt_9",
        "opp_9",
        "agent_9",
        "seller_9",
    )
    assert r.trace_id == "opp_9"  # traceId follows the given opportunityId


def test_a_given_trace_id_wins():
    assert normalise_receipt(receipt(traceId="trace_9", opportunityId="opp_9")).trace_id == "trace_9"


def test_blank_strings_count_as_missing():
    r = normalise_receipt(receipt(eventId="", opportunityId=" ", traceId="", buyerAgentId=""))
    assert (r.event_id, r.opportunity_id, r.trace_id, r.buyer_agent_id) == (
        "rcpt_1",
        "intent_1",
        "intent_1",
        "partner_procure_pilot",
    )


def test_an_unknown_type_is_refused_on_input_and_by_normalising():
    with pytest.raises(msgspec.ValidationError, match="eventType"):
        receipt(eventType="clicked")  # the wire type lists every accepted name
    with pytest.raises(ValidationFailed):
        normalise_receipt(msgspec.structs.replace(receipt(), event_type="clicked"))


def test_the_wire_event_types_are_the_known_types_and_aliases():
    known = set(CANONICAL_EVENT_TYPES) | set(EXTRA_EVENT_TYPES) | set(EVENT_TYPE_ALIASES)
    assert set(typing.get_args(EventType)) == known


# ---------------------------------------------------------------------------
# Billing rule
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "event", "cpqr_event", "expected"),
    [
        ("CPQR", "offer.shortlisted", "offer.shortlisted", True),
        ("CPQR", "shortlisted", "offer.shortlisted", True),
        ("CPQR", "offer.presented", "offer.shortlisted", False),
        ("CPQR", "conversion.attributed", "offer.shortlisted", False),
        ("CPQR", "offer.presented", "offer.presented", True),
        ("CPQR", "shown", "presented", True),
        ("CPQR", "offer.shortlisted", "offer.presented", False),
        ("CPA", "conversion.attributed", "offer.shortlisted", True),
        ("CPA", "conversion", "offer.shortlisted", True),
        ("CPA", "offer.shortlisted", "offer.shortlisted", False),
        ("CPA", "owner.interacted", "offer.shortlisted", False),
        ("CPA", "offer.presented", "offer.presented", False),
    ],
)
def test_billable(model, event, cpqr_event, expected):
    assert billable(model, event, cpqr_event) is expected


def test_billable_default_cpqr_event_is_shortlisted():
    assert billable("CPQR", "offer.shortlisted") is True
    assert billable("CPQR", "offer.presented") is False


# ---------------------------------------------------------------------------
# Credits and attribution
# ---------------------------------------------------------------------------


def test_credit_costs():
    assert dict(CREDIT_COSTS) == {
        "offer.presented": 2,
        "owner.viewed": 3,
        "owner.interacted": 5,
        "conversion.attributed": 10,
        "offer.shortlisted": 0,
    }


@pytest.mark.parametrize(
    ("event", "cost"),
    [
        ("presented", 2),
        ("shown", 2),
        ("detail_view", 3),
        ("handoff", 5),
        ("conversion", 10),
        ("shortlisted", 0),
        ("delivery.sent", 0),
        ("offer.eligible", 0),
    ],
)
def test_credit_cost_of_aliases_and_other_types(event, cost):
    assert credit_cost(event) == cost


def test_attribution_window():
    assert attribution_window("CPQR") == "session"
    assert attribution_window("CPA") == "30d"
    with pytest.raises(ValidationFailed):
        attribution_window("CPM")


# ---------------------------------------------------------------------------
# Settlement and retry job
# ---------------------------------------------------------------------------


def test_new_settlement_from_a_cpqr_receipt():
    r = normalise_receipt(receipt(eventType="shortlisted", traceId="trace_42"))
    s = new_settlement(r, hubflow(), "set_0000abcd", SEED_CLOCK)
    assert s.settlement_id == "set_0000abcd"
    assert s.status == "pending" and s.dispute_flag is False
    assert (s.amount, s.currency) == (120, "USD")
    assert s.billing_model == "CPQR" and s.attribution_window == "session"
    assert s.event_type == "offer.shortlisted"
    assert s.trace_id == "trace_42"
    assert (s.campaign_id, s.offer_id, s.partner_id, s.intent_id) == (
        "cmp_hubflow",
        "offer_hubflow",
        "partner_procure_pilot",
        "intent_1",
    )
    assert s.data_provenance == "real_event"
    assert s.generated_at == s.updated_at == SEED_CLOCK
    assert s.provider_state is None and s.last_error is None


def test_new_settlement_from_a_cpa_conversion():
    r = receipt(eventType="conversion", campaignId="cmp_signalstack", offerId="offer_signalstack")
    s = new_settlement(r, signalstack(), "set_1", SEED_CLOCK)
    assert (s.amount, s.attribution_window, s.event_type) == (900, "30d", "conversion.attributed")
    assert s.trace_id == "intent_1"  # not normalised: falls back to the intent


def test_new_retry_job():
    s = new_settlement(normalise_receipt(receipt(traceId="trace_42")), hubflow(), "set_1", SEED_CLOCK)
    job = new_retry_job(s, "retry_0000abcd", SEED_CLOCK)
    assert job.retry_job_id == "retry_0000abcd" and job.settlement_id == "set_1"
    assert job.status == "queued"
    assert (job.attempts, job.max_attempts) == (0, 3)
    assert job.next_run_at == job.created_at == job.updated_at == SEED_CLOCK
    assert job.trace_id == "trace_42"
    assert job.last_error is None and job.last_attempt_at is None


# ---------------------------------------------------------------------------
# Billing that cannot be gamed: time, verification, the decision
# ---------------------------------------------------------------------------


SECRET = "partner-secret-0123456789"


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(0), True),
        (timedelta(minutes=5), True),
        (timedelta(minutes=5, seconds=1), False),
        (timedelta(days=-400), True),
        (timedelta(days=365 * 900), False),
    ],
)
def test_occurred_at_at_most_five_minutes_ahead(offset, ok):
    r = receipt(occurredAt=(SEED_CLOCK + offset).isoformat().replace("+00:00", "Z"))
    if ok:
        check_occurred_at(r, SEED_CLOCK)
    else:
        with pytest.raises(ValidationFailed) as err:
            check_occurred_at(r, SEED_CLOCK)
        assert err.value.field == "occurredAt"


def test_the_signed_message_is_the_documented_dotted_string():
    r = receipt()
    assert signing_message(r, "offer.shortlisted", "2026-03-11T12:00:00Z") == (
        b"rcpt_1.intent_1.offer_hubflow.cmp_hubflow.partner_procure_pilot.offer.shortlisted.2026-03-11T12:00:00Z"
    )


def _signed(
    raw_event="shortlisted", when="2026-03-11T12:00:00.000Z", sign_event=None, sign_when=None, secret=SECRET
):
    base = receipt(eventType=raw_event, occurredAt=when)
    message = ".".join(
        [
            base.receipt_id,
            base.intent_id,
            base.offer_id,
            base.campaign_id,
            base.partner_id,
            sign_event or raw_event,
            sign_when or when,
        ]
    )
    sig = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    raw = receipt(eventType=raw_event, occurredAt=when, signature=sig)
    return raw, normalise_receipt(raw)


def test_off_needs_nothing():
    raw, canonical = _signed()
    assert (
        verify("off", shortlisted=False, secret=None, raw=raw, canonical=canonical).status == "not_required"
    )


def test_shortlist_needs_the_served_slot():
    raw, canonical = _signed()
    assert (
        verify("shortlist", shortlisted=True, secret=None, raw=raw, canonical=canonical).status == "verified"
    )
    failed = verify("shortlist", shortlisted=False, secret=None, raw=raw, canonical=canonical)
    assert failed.status == "failed" and "never shortlisted" in failed.reason


@pytest.mark.parametrize(
    ("sign_event", "sign_when"),
    [
        (None, None),
        ("offer.shortlisted", None),
        (None, "2026-03-11T12:00:00Z"),
        ("offer.shortlisted", "2026-03-11T12:00:00Z"),
    ],
)
def test_signed_accepts_the_fields_as_sent_or_canonical(sign_event, sign_when):
    raw, canonical = _signed(sign_event=sign_event, sign_when=sign_when)
    result = verify(
        "signed",
        shortlisted=True,
        secret=SECRET,
        raw=raw,
        canonical=canonical,
        occurred_at_text="2026-03-11T12:00:00.000Z",
    )
    assert result.status == "verified"


@pytest.mark.parametrize(
    ("kw", "shortlisted", "secret", "why"),
    [
        ({}, True, "another-secret-000000000", "does not match"),
        ({}, True, None, "No signing secret"),
        ({}, False, SECRET, "never shortlisted"),
        ({"sign_event": "offer.presented"}, True, SECRET, "does not match"),
    ],
)
def test_signed_refuses_what_does_not_match(kw, shortlisted, secret, why):
    raw, canonical = _signed(**kw)
    result = verify(
        "signed",
        shortlisted=shortlisted,
        secret=secret,
        raw=raw,
        canonical=canonical,
        occurred_at_text="2026-03-11T12:00:00.000Z",
    )
    assert result.status == "failed" and why in result.reason


def test_a_signature_is_hex_hmac_sha256():
    assert receipt_signature("k", b"m") == hmac.new(b"k", b"m", hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("billable_event", "verification", "status", "billable_out", "reason"),
    [
        (True, "verified", "active", True, None),
        (True, "not_required", "active", True, None),
        (False, "verified", "active", False, "event_not_billable"),
        (True, "failed", "active", False, "verification_failed"),
        (True, "verified", "reviewing", False, "campaign_not_active"),
        (True, "not_required", "paused", False, "campaign_not_active"),
        (True, "not_required", "rejected", False, "campaign_not_active"),
        (True, "failed", "rejected", False, "verification_failed"),
    ],
)
def test_the_billing_decision(billable_event, verification, status, billable_out, reason):
    from server.domain.receipts import Verification

    out = decide(
        billable_event=billable_event, verification=Verification(status=verification), campaign_status=status
    )
    assert (out.billable, out.reason) == (billable_out, reason)
