"""Test data for the domain unit tests: the original seed, and small builders around it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from server.domain.models import (
    AgentLead,
    Campaign,
    CampaignDraft,
    EventReceipt,
    PartnerAgent,
    ReputationRecord,
    SettlementReceipt,
    SettlementRetryJob,
)

ROOT = Path(__file__).resolve().parents[2]
SEED_PATH = ROOT / "data" / "seed.json"
# A verbatim copy of ../shared/fixtures/original-format/campaigns.template.json (the original import format).
TEMPLATE_PATH = ROOT / "data" / "original-format" / "campaigns.template.json"
SHARED_TEMPLATE_PATH = ROOT.parent / "shared" / "fixtures" / "original-format" / "campaigns.template.json"

# The evaluation clock of spec §11.
SEED_CLOCK = datetime(2026, 3, 11, 12, 0, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def seed() -> dict[str, Any]:
    return json.loads(SEED_PATH.read_text())


def seed_campaigns() -> list[Campaign]:
    return [msgspec.convert(c, Campaign) for c in seed()["campaigns"]]


def seed_partners() -> list[PartnerAgent]:
    return [msgspec.convert(p, PartnerAgent) for p in seed()["partners"]]


def seed_leads() -> list[AgentLead]:
    return [msgspec.convert(x, AgentLead) for x in seed()["leads"]]


def seed_reputation() -> list[ReputationRecord]:
    return [msgspec.convert(r, ReputationRecord) for r in seed()["reputationRecords"]]


def hubflow() -> Campaign:
    return seed_campaigns()[0]


def signalstack() -> Campaign:
    return seed_campaigns()[1]


def replace(obj: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(obj, **changes)


def with_offer(campaign: Campaign, **changes: Any) -> Campaign:
    return replace(campaign, offer=replace(campaign.offer, **changes))


def with_proof(campaign: Campaign, **changes: Any) -> Campaign:
    return replace(campaign, proof_bundle=replace(campaign.proof_bundle, **changes))


def draft_dict(**overrides: Any) -> dict[str, Any]:
    """A valid campaign draft in wire (camelCase) form."""
    base: dict[str, Any] = {
        "advertiser": "Acme Analytics",
        "category": "crm_software",
        "regions": ["UK"],
        "billingModel": "CPQR",
        "payoutAmount": 100,
        "currency": "USD",
        "budget": 5000,
        "disclosureText": "Sponsored recommendation from Acme Analytics.",
        "product": {
            "name": "Acme CRM",
            "description": "A CRM for small teams.",
            "price": 49,
            "currency": "USD",
            "intendedFor": ["compare_and_shortlist"],
            "constraints": {},
            "claims": ["SOC 2 Type II"],
            "actionEndpoints": ["https://acme-analytics.io/demo"],
            "positioningBullets": ["fast setup"],
        },
        "proofReferences": [
            {"label": "Security page", "type": "doc", "url": "https://acme-analytics.io/security"}
        ],
    }
    base.update(overrides)
    return base


def draft(**overrides: Any) -> CampaignDraft:
    return msgspec.convert(draft_dict(**overrides), CampaignDraft)


def receipt(**overrides: Any) -> EventReceipt:
    base: dict[str, Any] = {
        "receiptId": "rcpt_1",
        "dataProvenance": "real_event",
        "intentId": "intent_1",
        "offerId": "offer_hubflow",
        "campaignId": "cmp_hubflow",
        "partnerId": "partner_procure_pilot",
        "eventType": "offer.shortlisted",
        "occurredAt": "2026-03-11T12:00:00Z",
        "signature": "sig_1",
    }
    base.update(overrides)
    return msgspec.convert(base, EventReceipt)


def settlement(**overrides: Any) -> SettlementReceipt:
    base: dict[str, Any] = {
        "settlement_id": "set_0000abcd",
        "data_provenance": "real_event",
        "campaign_id": "cmp_hubflow",
        "offer_id": "offer_hubflow",
        "partner_id": "partner_procure_pilot",
        "intent_id": "intent_1",
        "billing_model": "CPQR",
        "event_type": "offer.shortlisted",
        "amount": 120.0,
        "currency": "USD",
        "attribution_window": "session",
        "status": "pending",
        "trace_id": "trace_1",
        "generated_at": SEED_CLOCK,
        "updated_at": SEED_CLOCK,
    }
    base.update(overrides)
    return SettlementReceipt(**base)


def retry_job(**overrides: Any) -> SettlementRetryJob:
    base: dict[str, Any] = {
        "retry_job_id": "retry_0000abcd",
        "settlement_id": "set_0000abcd",
        "trace_id": "trace_1",
        "status": "queued",
        "attempts": 0,
        "max_attempts": 3,
        "next_run_at": SEED_CLOCK,
        "created_at": SEED_CLOCK,
        "updated_at": SEED_CLOCK,
    }
    base.update(overrides)
    return SettlementRetryJob(**base)
