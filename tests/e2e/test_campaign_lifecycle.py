"""7. Campaign lifecycle: manual review, operator approval (audited), rejection."""

from __future__ import annotations

import httpx

from tests.support import campaign_draft, error_body, expect, opportunity, uid


def _create(api: httpx.Client, **overrides) -> dict:
    return expect(api.post("/campaigns", json=campaign_draft(**overrides)), 201)


def test_high_risk_claim_needs_operator_approval(api: httpx.Client) -> None:
    created = _create(api, externalRef=uid("risky"), product={"claims": ["100% guaranteed uptime"]})
    campaign_id = created["campaign"]["campaignId"]
    assert created["policyCheck"]["decision"] == "manual_review"
    assert "high_risk_claim_language" in created["policyCheck"]["riskFlags"]
    assert created["campaign"]["status"] == "reviewing"
    assert created["campaign"]["policyPass"] is False

    refused = api.post(f"/campaigns/{campaign_id}/activate")
    assert refused.status_code == 409, refused.text
    body = error_body(refused)
    assert body["activated"] is False
    assert body["campaign"]["status"] == "reviewing"
    assert body["policyCheck"]["decision"] == "manual_review"

    # Not served while waiting for review.
    evaluated = expect(
        api.post("/opportunities/evaluate", json=opportunity(constraints={"geo": ["US"]}, sponsoredSlots=10)),
        200,
    )
    assert campaign_id not in {s["campaignId"] for s in evaluated["shortlisted"]}

    note = "Checked the SLA contract: the uptime claim is backed by a written guarantee."
    reviewed = expect(
        api.post(f"/campaigns/{campaign_id}/review", json={"decision": "approve", "note": note}), 200
    )
    assert reviewed["campaignId"] == campaign_id

    activated = expect(api.post(f"/campaigns/{campaign_id}/activate"), 200)
    assert activated["activated"] is True
    assert activated["campaign"]["status"] == "active"
    assert expect(api.get(f"/campaigns/{campaign_id}"), 200)["status"] == "active"

    evaluated = expect(
        api.post("/opportunities/evaluate", json=opportunity(constraints={"geo": ["US"]}, sponsoredSlots=10)),
        200,
    )
    assert campaign_id in {s["campaignId"] for s in evaluated["shortlisted"]}

    audit = expect(api.get("/audit-trail", params={"entityId": campaign_id, "pageSize": 100}), 200)
    approvals = [e for e in audit["items"] if "approve" in e["action"]]
    assert len(approvals) == 1, [e["action"] for e in audit["items"]]
    approval = approvals[0]
    assert approval["actorType"] == "operator"
    assert approval["entityId"] == campaign_id
    assert note in str(approval["details"])
    # Newest first: the activation comes after the approval.
    actions = [e["action"] for e in audit["items"]]
    assert actions.index(approval["action"]) > min(i for i, a in enumerate(actions) if "activate" in a)


def test_operator_reject_rejects(api: httpx.Client) -> None:
    created = _create(api, externalRef=uid("risky"), product={"claims": ["Best price in the market"]})
    campaign_id = created["campaign"]["campaignId"]
    assert created["policyCheck"]["decision"] == "manual_review"
    expect(
        api.post(f"/campaigns/{campaign_id}/review", json={"decision": "reject", "note": "Unproven."}), 200
    )
    assert expect(api.get(f"/campaigns/{campaign_id}"), 200)["status"] == "rejected"
    refused = api.post(f"/campaigns/{campaign_id}/activate")
    assert refused.status_code == 409, refused.text
    assert refused.json()["activated"] is False
    error_body(refused)


def test_empty_disclosure_is_refused_before_anything_is_stored(api: httpx.Client) -> None:
    before = len(expect(api.get("/campaigns"), 200))
    for blank in ("", "   ", "\u00a0\t\n"):
        draft = campaign_draft(externalRef=uid("nodisclosure"), disclosureText=blank)
        refused = expect(api.post("/campaigns", json=draft), 400)
        assert refused["field"] == "disclosureText", refused
    assert len(expect(api.get("/campaigns"), 200)) == before


def test_a_free_offer_is_rejected_and_cannot_be_activated(api: httpx.Client) -> None:
    created = _create(api, externalRef=uid("free"), product={"price": 0})
    campaign_id = created["campaign"]["campaignId"]
    assert created["policyCheck"]["decision"] == "fail"
    assert created["campaign"]["status"] == "rejected"
    assert created["campaign"]["policyPass"] is False
    assert any("price" in r.lower() for r in created["policyCheck"]["reasons"]), created["policyCheck"]

    refused = api.post(f"/campaigns/{campaign_id}/activate")
    assert refused.status_code == 409, refused.text
    body = error_body(refused)
    assert body["activated"] is False
    assert expect(api.get(f"/campaigns/{campaign_id}"), 200)["status"] == "rejected"

    # An operator cannot waive a hard failure.
    approve = api.post(f"/campaigns/{campaign_id}/review", json={"decision": "approve", "note": "please"})
    assert approve.status_code == 409, approve.text
    error_body(approve)
    assert expect(api.get(f"/campaigns/{campaign_id}"), 200)["status"] == "rejected"

    latest = expect(api.get(f"/campaigns/{campaign_id}/policy-check"), 200)
    assert latest["decision"] == "fail"
    assert latest["campaignId"] == campaign_id


def test_review_without_decision_reruns_the_check(api: httpx.Client) -> None:
    created = _create(api, externalRef=uid("rerun"))
    campaign_id = created["campaign"]["campaignId"]
    first = created["policyCheck"]
    again = expect(api.post(f"/campaigns/{campaign_id}/review"), 200)
    assert again["decision"] == "pass"
    assert again["policyCheckId"] != first["policyCheckId"]
    assert (
        expect(api.get(f"/campaigns/{campaign_id}/policy-check"), 200)["policyCheckId"]
        == again["policyCheckId"]
    )


def test_invalid_operator_decision_is_400(api: httpx.Client) -> None:
    created = _create(api, externalRef=uid("badreview"), product={"claims": ["No risk at all"]})
    campaign_id = created["campaign"]["campaignId"]
    response = api.post(f"/campaigns/{campaign_id}/review", json={"decision": "maybe"})
    assert response.status_code == 400, response.text
    body = error_body(response)
    assert body.get("field") == "decision", body


def test_compiled_offer_narratives(api: httpx.Client) -> None:
    draft = campaign_draft(externalRef=uid("narr"))
    created = expect(api.post("/campaigns", json=draft), 201)
    offer = created["campaign"]["offer"]
    name = draft["product"]["name"]
    assert offer["narrativeVariants"] == {
        "rational": f"{name} focuses on measurable value: workspace governance; operator visibility.",
        "premium": f"{name} delivers a polished buying experience with workspace governance; operator visibility.",
        "simple": f"{name} is a clear, structured option for compare_and_shortlist / vendor_discovery tasks.",
    }


def test_budget_gate_stops_serving_a_spent_campaign(api: httpx.Client) -> None:
    """Committed spend (settlements not failed and not disputed) + payout must fit the budget."""
    created = _create(api, externalRef=uid("budget"), budget=300, payoutAmount=150)
    campaign_id = created["campaign"]["campaignId"]
    offer_id = created["campaign"]["offer"]["offerId"]
    expect(api.post(f"/campaigns/{campaign_id}/activate"), 200)

    def evaluate() -> dict:
        body = expect(
            api.post(
                "/opportunities/evaluate",
                json=opportunity(constraints={"geo": ["US"]}, sponsoredSlots=10, explain=True),
            ),
            200,
        )
        mine = [s for s in body["shortlisted"] if s["campaignId"] == campaign_id]
        rejected = [r for r in body["rejected"] if r["campaignId"] == campaign_id]
        return {"shortlisted": mine, "rejected": rejected}

    assert len(evaluate()["shortlisted"]) == 1

    settlements = []
    for _ in range(2):
        posted = expect(
            api.post(
                "/events/receipts",
                json={
                    "receiptId": uid("rcpt_budget"),
                    "dataProvenance": "real_event",
                    "intentId": uid("intent_budget"),
                    "offerId": offer_id,
                    "campaignId": campaign_id,
                    "partnerId": "partner_procure_pilot",
                    "eventType": "shortlisted",
                    "occurredAt": "2026-03-12T10:00:00.000Z",
                    "signature": "sig_budget",
                },
            ),
            201,
        )
        settlements.append(posted["settlement"]["settlementId"])
        # 150 committed: 150 + 150 <= 300 still fits after the first; not after the second.
    result = evaluate()
    assert result["shortlisted"] == []
    assert len(result["rejected"]) == 1
    assert "budget" in result["rejected"][0]["failedGates"], result

    # A disputed settlement no longer counts as committed spend.
    expect(api.post(f"/settlements/{settlements[0]}/dispute", json={}), 200)
    assert len(evaluate()["shortlisted"]) == 1
