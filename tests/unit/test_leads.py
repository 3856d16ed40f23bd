"""Lead verification and promotion to a partner (api.md: /agent-leads/:leadId/status and /promote)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.domain.errors import Conflict, ValidationFailed
from server.domain.leads import (
    CHECKLIST_ITEMS,
    VerificationChecklist,
    change_status,
    default_partner_id,
    missing_checklist_items,
    promote,
    slug,
)

from .factories import SEED_CLOCK, replace, seed_leads

LATER = SEED_CLOCK + timedelta(hours=1)
FULL = {"identity": True, "auth": True, "disclosure": True, "sla": True, "rateLimit": True}


def eu_lead(**changes):
    return replace(seed_leads()[0], **changes)


def cn_lead(**changes):
    return replace(seed_leads()[1], **changes)


# ---------------------------------------------------------------------------
# Status and checklist
# ---------------------------------------------------------------------------


def test_checklist_items():
    assert CHECKLIST_ITEMS == ("identity", "auth", "disclosure", "sla", "rateLimit")


@pytest.mark.parametrize(
    "checklist",
    [FULL, VerificationChecklist(identity=True, auth=True, disclosure=True, sla=True, rate_limit=True)],
)
def test_active_with_a_complete_checklist(checklist):
    lead = change_status(
        eu_lead(verification_status="verified"), "active", "ops:carol", checklist, "https://x.ai/ev", LATER
    )
    assert lead.verification_status == "active"
    assert lead.verification_owner == "ops:carol"
    assert lead.evidence_ref == "https://x.ai/ev"
    assert lead.last_verified_at == LATER


@pytest.mark.parametrize("item", CHECKLIST_ITEMS)
def test_active_refused_when_one_item_is_missing(item):
    with pytest.raises(Conflict) as err:
        change_status(eu_lead(), "active", "ops:carol", {**FULL, item: False}, None, LATER)
    assert err.value.to_body()["missing"] == [item]
    assert item in err.value.message
    assert err.value.status_code == 409


def test_active_refused_names_every_missing_item_in_order():
    with pytest.raises(Conflict) as err:
        change_status(eu_lead(), "active", "ops:carol", {"identity": True, "sla": True}, None, LATER)
    assert err.value.body["missing"] == ["auth", "disclosure", "rateLimit"]
    assert "auth, disclosure, rateLimit" in err.value.message


def test_active_refused_without_a_checklist():
    with pytest.raises(Conflict) as err:
        change_status(eu_lead(), "active", "ops:carol", None, None, LATER)
    assert err.value.body["missing"] == list(CHECKLIST_ITEMS)


def test_only_true_confirms_an_item():
    assert missing_checklist_items({**FULL, "sla": "yes", "auth": 1}) == ["auth", "sla"]
    assert missing_checklist_items(VerificationChecklist(identity=True)) == [
        "auth",
        "disclosure",
        "sla",
        "rateLimit",
    ]


@pytest.mark.parametrize("status", ["new", "reviewing", "verified", "suspended"])
def test_other_statuses_need_no_checklist(status):
    lead = change_status(eu_lead(), status, "ops:carol", None, None, LATER)
    assert lead.verification_status == status
    assert lead.verification_owner == "ops:carol" and lead.last_verified_at == LATER
    assert lead.evidence_ref == "https://procurepilot.ai/verification"  # kept when none is given


def test_unknown_status():
    with pytest.raises(ValidationFailed) as err:
        change_status(eu_lead(), "approved", "ops:carol", FULL, None, LATER)
    assert err.value.field == "nextStatus"


@pytest.mark.parametrize("actor", ["", "   "])
def test_an_actor_is_required(actor):
    with pytest.raises(ValidationFailed) as err:
        change_status(eu_lead(), "verified", actor, None, None, LATER)
    assert err.value.field == "actorId"


# ---------------------------------------------------------------------------
# Promotion
# ---------------------------------------------------------------------------


def test_promote_the_seed_eu_lead():
    partner = promote(eu_lead())
    assert partner.partner_id == "partner_procurepilot"
    assert partner.agent_lead_id == "lead_crm_eu"
    assert partner.status == "active"
    assert partner.endpoint == "https://procurepilot.ai/opportunities"
    assert partner.trust_score == 0.81
    assert partner.supported_categories == ["crm_software", "sales_ops"]
    assert partner.auth_modes == ["oauth2", "api_key"]
    assert partner.accepts_sponsored and partner.supports_disclosure
    assert partner.supports_delivery_receipt and partner.supports_presentation_receipt
    assert partner.data_provenance == "demo_seed"
    assert partner.verification_owner == "ops:alice"
    assert partner.provider_org == "ProcurePilot"


def test_promote_with_a_given_id():
    assert promote(eu_lead(), "partner_procure_pilot").partner_id == "partner_procure_pilot"


def test_a_verified_lead_can_be_promoted():
    assert promote(eu_lead(verification_status="verified")).status == "active"


def test_a_discovered_lead_becomes_a_real_partner():
    assert promote(eu_lead(data_provenance="real_discovery")).data_provenance == "real_partner"


def test_the_seed_cn_lead_lacks_presentation_receipts():
    with pytest.raises(Conflict) as err:
        promote(cn_lead())
    assert "supportsPresentationReceipt" in err.value.message
    assert err.value.body["missing"] == ["supportsPresentationReceipt is false"]


@pytest.mark.parametrize("status", ["new", "reviewing", "suspended"])
def test_only_verified_or_active_leads_are_promoted(status):
    with pytest.raises(Conflict) as err:
        promote(eu_lead(verification_status=status))
    assert "verificationStatus" in err.value.message and status in err.value.message


@pytest.mark.parametrize("endpoint", [None, "", "  "])
def test_an_endpoint_is_required(endpoint):
    with pytest.raises(Conflict) as err:
        promote(eu_lead(endpoint_url=endpoint))
    assert "endpointUrl" in err.value.message


def test_every_missing_requirement_is_named():
    lead = eu_lead(
        verification_status="new",
        endpoint_url=None,
        supports_delivery_receipt=False,
        supports_presentation_receipt=False,
    )
    with pytest.raises(Conflict) as err:
        promote(lead)
    assert len(err.value.body["missing"]) == 4
    for name in (
        "verificationStatus",
        "endpointUrl",
        "supportsDeliveryReceipt",
        "supportsPresentationReceipt",
    ):
        assert name in err.value.message


@pytest.mark.parametrize(
    ("org", "expected"),
    [
        ("ProcurePilot", "procurepilot"),
        ("GrowthDesk Agent", "growthdesk_agent"),
        ("  Acme, Inc. (EU) ", "acme_inc_eu"),
        ("Agent-42.io", "agent_42_io"),
        ("__x__", "x"),
        ("中文", ""),
    ],
)
def test_slug(org, expected):
    assert slug(org) == expected


def test_default_partner_id_falls_back_to_the_lead_id():
    assert default_partner_id(eu_lead(provider_org="GrowthDesk Agent")) == "partner_growthdesk_agent"
    assert default_partner_id(eu_lead(provider_org="中文")) == "partner_lead_crm_eu"
