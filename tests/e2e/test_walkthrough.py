"""2. The README walk-through: create → activate → evaluate → receipt → settle."""

from __future__ import annotations

import httpx

from tests.support import expect, opportunity, receipt, template_campaign, uid


def test_readme_walkthrough(fresh_api: httpx.Client) -> None:
    api = fresh_api
    draft = template_campaign()  # sent as is, in the original format

    created = expect(api.post("/campaigns", json=draft), 201)
    campaign = created["campaign"]
    campaign_id = campaign["campaignId"]
    offer_id = campaign["offer"]["offerId"]
    assert campaign_id.startswith("cmp_")
    assert offer_id.startswith("offer_")
    assert campaign["status"] == "reviewing"
    assert campaign["policyPass"] is True
    assert campaign["advertiser"] == draft["advertiser"]
    assert campaign["payoutAmount"] == 150
    assert campaign["offer"]["title"] == draft["product"]["name"]
    assert created["policyCheck"]["decision"] == "pass"
    assert created["policyCheck"]["campaignId"] == campaign_id

    activated = expect(api.post(f"/campaigns/{campaign_id}/activate"), 200)
    assert activated["activated"] is True
    assert activated["campaign"]["status"] == "active"
    assert expect(api.get(f"/campaigns/{campaign_id}"), 200)["status"] == "active"

    intent = uid("intent_walkthrough")
    evaluated = expect(
        api.post(
            "/opportunities/evaluate", json=opportunity(intent, constraints={"geo": ["US"]}, sponsoredSlots=4)
        ),
        200,
    )
    assert evaluated["intentId"] == intent
    mine = [s for s in evaluated["shortlisted"] if s["campaignId"] == campaign_id]
    assert len(mine) == 1, evaluated
    item = mine[0]
    assert item["offerId"] == offer_id
    assert item["partnerId"] == "partner_procure_pilot"
    assert item["sponsoredFlag"] is True
    assert item["disclosureText"] == draft["disclosureText"]
    assert item["bidValue"] == 150
    # The new campaign serves the US; the seeded ones do not, so it must rank first.
    assert evaluated["shortlisted"][0]["campaignId"] == campaign_id

    posted = expect(
        api.post(
            "/events/receipts",
            json=receipt(
                intentId=intent,
                offerId=offer_id,
                campaignId=campaign_id,
                partnerId="partner_procure_pilot",
                eventType="shortlisted",
            ),
        ),
        201,
    )
    assert posted["deduplicated"] is False
    assert posted["receipt"]["eventType"] == "offer.shortlisted"
    settlement = posted["settlement"]
    assert settlement is not None
    assert settlement["status"] == "pending"
    assert settlement["amount"] == 150
    assert settlement["currency"] == "USD"
    assert settlement["attributionWindow"] == "session"
    assert settlement["billingModel"] == "CPQR"
    assert settlement["campaignId"] == campaign_id
    settlement_id = settlement["settlementId"]
    assert settlement_id.startswith("set_")

    processed = expect(api.post("/settlements/retry-queue/process", json={}), 200)
    assert processed["settledCount"] == 1
    assert processed["processedCount"] == 1
    assert processed["failedCount"] == 0
    assert processed["rescheduledCount"] == 0

    listed = expect(api.get("/settlements"), 200)
    ours = [s for s in listed if s["settlementId"] == settlement_id]
    assert len(ours) == 1
    assert ours[0]["status"] == "settled"
    assert ours[0]["providerSettlementId"] == "sim_" + settlement_id
    assert ours[0]["providerReference"] == intent
    jobs = expect(api.get("/settlements/retry-jobs", params={"settlementId": settlement_id}), 200)
    assert [j["status"] for j in jobs] == ["completed"]
