"""8. Dispute rules: allowed states, the cancelled retry job, governed trust."""

from __future__ import annotations

import httpx
import pytest

from tests.support import error_body, expect, opportunity, receipt, uid

PARTNER = "partner_procure_pilot"


def _governed_trust(api: httpx.Client, partner_id: str = PARTNER) -> float:
    partners = expect(api.get("/partners"), 200)
    (partner,) = [p for p in partners if p["partnerId"] == partner_id]
    return partner["trustScore"]  # the governed trust; the stored one is baseTrustScore


def _new_settlement(api: httpx.Client, **overrides) -> dict:
    body = expect(api.post("/events/receipts", json=receipt(eventType="shortlisted", **overrides)), 201)
    assert body["settlement"] is not None
    assert body["settlement"]["status"] == "pending"
    return body["settlement"]


def _settlement(api: httpx.Client, settlement_id: str) -> dict:
    listed = expect(api.get("/settlements"), 200)
    (found,) = [s for s in listed if s["settlementId"] == settlement_id]
    return found


def test_dispute_pending_settlement(api: httpx.Client) -> None:
    settlement = _new_settlement(api)
    settlement_id = settlement["settlementId"]
    trust_before = _governed_trust(api)
    jobs = expect(api.get("/settlements/retry-jobs", params={"settlementId": settlement_id}), 200)
    assert [j["status"] for j in jobs] == ["queued"]

    disputed = expect(api.post(f"/settlements/{settlement_id}/dispute", json={"reason": "never shown"}), 200)
    assert disputed["settlementId"] == settlement_id
    assert disputed["status"] == "disputed"
    assert disputed["disputeFlag"] is True
    assert _settlement(api, settlement_id)["status"] == "disputed"

    jobs = expect(api.get("/settlements/retry-jobs", params={"settlementId": settlement_id}), 200)
    assert len(jobs) == 1
    assert jobs[0]["status"] == "cancelled"

    # −0.05 for the disputed settlement, −3 × 0.02 × 0.5 for the under-review reputation record.
    assert _governed_trust(api) == pytest.approx(trust_before - 0.08, abs=1e-9)

    # The queue never submits it.
    processed = expect(api.post("/settlements/retry-queue/process", json={"limit": 100}), 200)
    assert settlement_id not in {i["settlementId"] for i in processed["items"]}
    assert _settlement(api, settlement_id)["status"] == "disputed"

    audit = expect(api.get("/audit-trail", params={"entityId": settlement_id}), 200)
    assert "settlement.disputed" in {e["action"] for e in audit["items"]}


def test_dispute_without_body(api: httpx.Client) -> None:
    settlement = _new_settlement(api)
    disputed = expect(api.post(f"/settlements/{settlement['settlementId']}/dispute"), 200)
    assert disputed["status"] == "disputed"


def test_disputing_twice_is_409(api: httpx.Client) -> None:
    settlement_id = _new_settlement(api)["settlementId"]
    expect(api.post(f"/settlements/{settlement_id}/dispute", json={}), 200)
    trust = _governed_trust(api)
    again = api.post(f"/settlements/{settlement_id}/dispute", json={})
    assert again.status_code == 409, again.text
    body = error_body(again)
    assert "disputed" in body["message"]
    assert _governed_trust(api) == pytest.approx(trust, abs=1e-9)  # no second penalty


def test_disputing_a_settled_settlement_is_409(api: httpx.Client) -> None:
    settlement_id = _new_settlement(api)["settlementId"]
    processed = expect(api.post("/settlements/retry-queue/process", json={"limit": 100}), 200)
    mine = [i for i in processed["items"] if i["settlementId"] == settlement_id]
    assert len(mine) == 1 and mine[0]["outcome"] == "settled", processed
    assert _settlement(api, settlement_id)["status"] == "settled"
    trust = _governed_trust(api)

    refused = api.post(f"/settlements/{settlement_id}/dispute", json={"reason": "late"})
    assert refused.status_code == 409, refused.text
    assert "settled" in error_body(refused)["message"]
    assert _settlement(api, settlement_id)["status"] == "settled"
    assert _settlement(api, settlement_id)["disputeFlag"] is False
    assert _governed_trust(api) == pytest.approx(trust, abs=1e-9)


def _hubflow_trust(api: httpx.Client) -> float:
    """HubFlow × ProcurePilot's trust score, whether the pair is shortlisted or rejected."""
    body = expect(
        api.post("/opportunities/evaluate", json=opportunity(uid("intent_trust"), explain=True)), 200
    )
    shortlisted = [
        s for s in body["shortlisted"] if s["campaignId"] == "cmp_hubflow" and s["partnerId"] == PARTNER
    ]
    if shortlisted:
        return shortlisted[0]["trustScore"]
    rejected = [r for r in body["rejected"] if r["campaignId"] == "cmp_hubflow" and r["partnerId"] == PARTNER]
    assert rejected, body
    return rejected[0]["scores"]["trust"]


def test_dispute_lowers_trust_in_ranking(api: httpx.Client) -> None:
    """The governed trust the ranking uses falls with a dispute too (trust = (governed + freshness) / 2)."""
    trust_before = _hubflow_trust(api)
    gt_before = _governed_trust(api)

    settlement_id = _new_settlement(api)["settlementId"]
    expect(api.post(f"/settlements/{settlement_id}/dispute", json={}), 200)
    assert _governed_trust(api) == pytest.approx(gt_before - 0.08, abs=1e-9)
    assert _hubflow_trust(api) == pytest.approx(trust_before - 0.04, abs=1e-9)
