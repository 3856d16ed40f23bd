"""Buyer-agent leads: listing and filters, verification status, promotion to partner."""

from __future__ import annotations

import httpx
import pytest

from tests.support import expect


def test_all_leads_and_filters(api: httpx.Client) -> None:
    everyone = expect(api.get("/agents/leads"), 200)
    assert [lead["agentId"] for lead in everyone] == ["lead_crm_eu", "lead_crm_cn"]
    by_source = expect(api.get("/agent-leads", params={"sourceType": "partner_directory"}), 200)
    assert [lead["agentId"] for lead in by_source] == ["lead_crm_cn"]
    assert [x["agentId"] for x in expect(api.get("/agent-leads", params={"geo": "UK"}), 200)] == [
        "lead_crm_eu"
    ]
    assert [x["agentId"] for x in expect(api.get("/agent-leads", params={"vertical": "revops"}), 200)] == [
        "lead_crm_cn"
    ]
    assert [x["agentId"] for x in expect(api.get("/agent-leads", params={"owner": "ops:alice"}), 200)] == [
        "lead_crm_eu"
    ]
    assert expect(api.get("/agent-leads", params={"provenance": "real_discovery,real_partner"}), 200) == []
    assert expect(api.get("/agent-leads/lead_crm_eu"), 200)["providerOrg"] == "ProcurePilot"
    assert "lead_nobody" in expect(api.get("/agent-leads/lead_nobody"), 404)["message"]


def test_activation_needs_a_complete_checklist(fresh_api: httpx.Client) -> None:
    api = fresh_api
    expect(
        api.post("/agent-leads/lead_crm_cn/status", json={"nextStatus": "reviewing", "actorId": "ops:carol"}),
        200,
    )
    refused = expect(
        api.post(
            "/agent-leads/lead_crm_cn/status",
            json={
                "nextStatus": "active",
                "actorId": "ops:carol",
                "checklist": {"identity": True, "auth": True},
            },
        ),
        409,
    )
    assert "disclosure" in refused["message"] and "rateLimit" in refused["message"]
    checklist = {"identity": True, "auth": True, "disclosure": True, "sla": True, "rateLimit": True}
    lead = expect(
        api.post(
            "/agent-leads/lead_crm_cn/status",
            json={
                "nextStatus": "active",
                "actorId": "ops:carol",
                "checklist": checklist,
                "evidenceRef": "https://growthdesk.ai/evidence",
            },
        ),
        200,
    )
    assert lead["verificationStatus"] == "active"
    assert (
        lead["verificationOwner"] == "ops:carol" and lead["evidenceRef"] == "https://growthdesk.ai/evidence"
    )
    assert lead["lastVerifiedAt"]
    assert expect(api.post("/agent-leads/lead_crm_cn/status", json={"nextStatus": "sideways"}), 400)["field"]


def test_promotion_needs_both_receipt_capabilities(fresh_api: httpx.Client) -> None:
    api = fresh_api
    refused = expect(api.post("/agent-leads/lead_crm_cn/promote"), 409)
    assert "presentation" in refused["message"].lower()
    partner = expect(api.post("/agent-leads/lead_crm_eu/promote", json={"partnerId": "partner_pp_two"}), 201)
    assert partner["partnerId"] == "partner_pp_two" and partner["status"] == "active"
    assert partner["trustScore"] == 0.81  # the lead's trust seed
    listed = {p["partnerId"]: p for p in expect(api.get("/partners"), 200)}
    assert "partner_pp_two" in listed
    assert listed["partner_pp_two"]["trustScore"] == 0.81  # governed: no reputation records, no disputes
    assert listed["partner_pp_two"]["baseTrustScore"] == 0.81
    assert (
        "already exists"
        in expect(api.post("/agent-leads/lead_crm_eu/promote", json={"partnerId": "partner_pp_two"}), 409)[
            "message"
        ]
    )
    default = expect(api.post("/agent-leads/lead_crm_eu/promote"), 201)
    assert default["partnerId"] == "partner_procurepilot"


def test_partners_show_the_governed_trust_as_trust_score(api: httpx.Client) -> None:
    """As the original answered: ``trustScore`` is the governed trust, ``baseTrustScore`` the stored one."""
    listed = {p["partnerId"]: p for p in expect(api.get("/partners"), 200)}
    pilot = listed["partner_procure_pilot"]
    assert pilot["baseTrustScore"] == 0.84
    assert pilot["trustScore"] == pytest.approx(0.92, abs=1e-9)  # + the seeded reputation record
    assert "governedTrust" not in pilot
