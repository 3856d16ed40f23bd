"""4 and 5. Receipts: exactly-once under concurrency, aliases, references, billing rules."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import pytest

from tests.support import ServerProcess, error_body, expect, receipt, uid


def _settlements_for(api: httpx.Client, intent_id: str, campaign_id: str = "cmp_hubflow") -> list[dict]:
    listed = expect(api.get("/settlements", params={"campaignId": campaign_id}), 200)
    return [s for s in listed if s["intentId"] == intent_id]


def _settlement_total(api: httpx.Client) -> int:
    response = api.get("/settlements", params={"limit": 1})
    assert response.status_code == 200, response.text
    return int(response.headers["x-total-count"])


def _event_counts(api: httpx.Client) -> dict[str, int]:
    return expect(api.get("/dashboard"), 200)["eventCounts"]


# ---------------------------------------------------------------------------
# 4. Concurrent duplicates
# ---------------------------------------------------------------------------


async def test_concurrent_duplicate_receipts_are_recorded_once(server: ServerProcess) -> None:
    bodies = [receipt(receiptId=uid("rcpt_twin"), intentId=uid("intent_twin")) for _ in range(20)]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20.0, limits=limits) as client:
        # Warm the connection pool so the twins really travel at the same moment.
        await asyncio.gather(*(client.get("/health") for _ in range(40)))
        responses = await asyncio.gather(
            *(client.post("/events/receipts", json=body) for body in bodies for _ in range(2))
        )

    by_id: dict[str, list[httpx.Response]] = defaultdict(list)
    for response in responses:
        assert response.status_code in (200, 201), response.text
        by_id[response.json()["receipt"]["receiptId"]].append(response)

    assert set(by_id) == {b["receiptId"] for b in bodies}
    for receipt_id, pair in by_id.items():
        statuses = sorted(r.status_code for r in pair)
        assert statuses == [200, 201], f"{receipt_id}: {statuses}"
        first, second = sorted(pair, key=lambda r: r.status_code, reverse=True)  # 201 then 200
        assert first.json()["deduplicated"] is False
        assert second.json()["deduplicated"] is True
        assert first.json()["settlement"] is not None
        assert second.json()["settlement"] is not None
        assert first.json()["settlement"]["settlementId"] == second.json()["settlement"]["settlementId"]

    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        listed = expect(api.get("/settlements", params={"campaignId": "cmp_hubflow"}), 200)
        assert all(s["campaignId"] == "cmp_hubflow" for s in listed)
        per_intent: dict[str, int] = defaultdict(int)
        for s in listed:
            per_intent[s["intentId"]] += 1
        for body in bodies:
            assert per_intent[body["intentId"]] == 1, f"{body['intentId']}: {per_intent[body['intentId']]}"

        # The same receipt id, sent again later: 200, same settlement.
        again = bodies[0]
        original_settlement = by_id[again["receiptId"]][0].json()["settlement"]["settlementId"]
        later = expect(api.post("/events/receipts", json=again), 200)
        assert later["deduplicated"] is True
        assert later["settlement"]["settlementId"] == original_settlement
        assert later["receipt"]["receiptId"] == again["receiptId"]

        # Deduplications are audited.
        audit = expect(
            api.get("/audit-trail", params={"entityId": again["receiptId"], "entityType": "idempotency"}), 200
        )
        assert audit["total"] >= 2
        assert {e["status"] for e in audit["items"]} == {"deduplicated"}


async def test_concurrent_receipts_for_one_intent_bill_once(server: ServerProcess) -> None:
    """Different receipt ids for the same intent/offer/event at the same moment: all new, one settlement."""
    intents = [uid("intent_race") for _ in range(10)]
    bodies = [
        receipt(intentId=intent, eventType=event)
        for intent in intents
        for event in ("shortlisted", "offer.shortlisted", "shortlisted")
    ]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20.0) as client:
        responses = await asyncio.gather(*(client.post("/events/receipts", json=b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * len(bodies), [r.text[:200] for r in responses]
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        listed = expect(api.get("/settlements", params={"campaignId": "cmp_hubflow"}), 200)
    for intent in intents:
        assert len([s for s in listed if s["intentId"] == intent]) == 1, intent


async def test_concurrent_twins_with_no_settlement(server: ServerProcess) -> None:
    """Non-billable twins (presented on CPQR) are deduplicated too, and counted once."""
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        before = _event_counts(api)["offer.presented"]
    bodies = [receipt(receiptId=uid("rcpt_ptwin"), eventType="presented") for _ in range(10)]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20.0) as client:
        responses = await asyncio.gather(
            *(client.post("/events/receipts", json=b) for b in bodies for _ in range(2))
        )
    assert sorted(r.status_code for r in responses) == [200] * 10 + [201] * 10
    assert all(r.json()["settlement"] is None for r in responses)
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        assert _event_counts(api)["offer.presented"] == before + 10


# ---------------------------------------------------------------------------
# 5. Aliases, references and billing rules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("presented", "offer.presented"),
        ("shown", "offer.presented"),
        ("detail_view", "owner.viewed"),
        ("viewed", "owner.viewed"),
        ("handoff", "owner.interacted"),
        ("interacted", "owner.interacted"),
        ("conversion", "conversion.attributed"),
        ("shortlisted", "offer.shortlisted"),
        ("offer.presented", "offer.presented"),
    ],
)
def test_event_type_aliases_are_normalised(api: httpx.Client, alias: str, canonical: str) -> None:
    before = _event_counts(api)[canonical]
    body = expect(api.post("/events/receipts", json=receipt(eventType=alias)), 201)
    assert body["receipt"]["eventType"] == canonical
    assert body["deduplicated"] is False
    assert _event_counts(api)[canonical] == before + 1


def test_receipt_defaults_are_filled(api: httpx.Client) -> None:
    sent = receipt(eventType="presented")
    body = expect(api.post("/events/receipts", json=sent), 201)["receipt"]
    assert body["eventId"] == sent["receiptId"]
    assert body["opportunityId"] == sent["intentId"]
    assert body["traceId"] == sent["intentId"]
    assert body["buyerAgentId"] == sent["partnerId"]
    assert body["sellerAgentId"] == "promotion-agent"
    assert body["environment"] == "test"


def _assert_nothing_stored(
    api: httpx.Client, sent: dict, counts_before: dict, settlements_before: int
) -> None:
    assert _event_counts(api) == counts_before
    assert _settlement_total(api) == settlements_before
    audit = expect(api.get("/audit-trail", params={"entityId": sent["receiptId"]}), 200)
    assert audit["total"] == 0, audit
    # Nothing was remembered under the receipt id either: once fixed, the same id is new (201).


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"campaignId": "cmp_does_not_exist"}, "campaignId"),
        ({"offerId": "offer_signalstack"}, "offerId"),  # SignalStack's offer, not HubFlow's
        ({"offerId": "offer_unknown"}, "offerId"),
        ({"partnerId": "partner_does_not_exist"}, "partnerId"),
    ],
)
def test_unknown_references_are_refused_with_422(api: httpx.Client, overrides: dict, field: str) -> None:
    counts_before = _event_counts(api)
    settlements_before = _settlement_total(api)
    sent = receipt(eventType="shortlisted", **overrides)
    response = api.post("/events/receipts", json=sent)
    assert response.status_code == 422, response.text
    body = error_body(response)
    assert body.get("field") == field, body
    assert field in body["message"], body
    _assert_nothing_stored(api, sent, counts_before, settlements_before)

    fixed = dict(sent, campaignId="cmp_hubflow", offerId="offer_hubflow", partnerId="partner_procure_pilot")
    assert expect(api.post("/events/receipts", json=fixed), 201)["deduplicated"] is False


def test_cpa_campaign_is_billed_only_on_conversion(api: httpx.Client) -> None:
    intent = uid("intent_cpa")
    base = {"intentId": intent, "campaignId": "cmp_signalstack", "offerId": "offer_signalstack"}
    for event in ("shortlisted", "presented", "viewed", "interacted"):
        body = expect(api.post("/events/receipts", json=receipt(eventType=event, **base)), 201)
        assert body["settlement"] is None, f"{event} must not bill a CPA campaign: {body['settlement']}"
    body = expect(api.post("/events/receipts", json=receipt(eventType="conversion", **base)), 201)
    settlement = body["settlement"]
    assert settlement is not None
    assert settlement["billingModel"] == "CPA"
    assert settlement["eventType"] == "conversion.attributed"
    assert settlement["amount"] == 900
    assert settlement["currency"] == "USD"
    assert settlement["attributionWindow"] == "30d"
    assert settlement["status"] == "pending"
    assert settlement["disputeFlag"] is False
    assert len(_settlements_for(api, intent, "cmp_signalstack")) == 1
    jobs = expect(
        api.get("/settlements/retry-jobs", params={"settlementId": settlement["settlementId"]}), 200
    )
    assert len(jobs) == 1
    assert jobs[0]["status"] == "queued"
    assert jobs[0]["attempts"] == 0
    assert jobs[0]["maxAttempts"] == 3


def test_cpqr_billed_on_shortlisted_not_on_presented(api: httpx.Client) -> None:
    intent = uid("intent_cpqr")
    presented = expect(
        api.post("/events/receipts", json=receipt(intentId=intent, eventType="presented")), 201
    )
    assert presented["settlement"] is None
    assert _settlements_for(api, intent) == []

    shortlisted = expect(
        api.post("/events/receipts", json=receipt(intentId=intent, eventType="shortlisted")), 201
    )
    settlement = shortlisted["settlement"]
    assert settlement is not None
    assert settlement["eventType"] == "offer.shortlisted"
    assert settlement["amount"] == 120
    assert settlement["attributionWindow"] == "session"
    assert settlement["billingModel"] == "CPQR"
    assert settlement["intentId"] == intent
    assert settlement["offerId"] == "offer_hubflow"
    assert settlement["partnerId"] == "partner_procure_pilot"
    assert [s["settlementId"] for s in _settlements_for(api, intent)] == [settlement["settlementId"]]


def test_second_receipt_for_same_intent_offer_event_bills_once(api: httpx.Client) -> None:
    intent = uid("intent_once")
    first = expect(api.post("/events/receipts", json=receipt(intentId=intent, eventType="shortlisted")), 201)
    # Another receipt id, same intent/offer/event (here spelled canonically): a new receipt, no new settlement.
    second = expect(
        api.post("/events/receipts", json=receipt(intentId=intent, eventType="offer.shortlisted")), 201
    )
    assert second["deduplicated"] is False
    assert second["receipt"]["receiptId"] != first["receipt"]["receiptId"]
    if second["settlement"] is not None:
        assert second["settlement"]["settlementId"] == first["settlement"]["settlementId"]
    settlements = _settlements_for(api, intent)
    assert len(settlements) == 1
    assert settlements[0]["settlementId"] == first["settlement"]["settlementId"]


def test_billable_event_setting_presented(start_server) -> None:
    """CPQR_BILLABLE_EVENT=offer.presented (what the later original billed): presented bills, shortlisted not."""
    server = start_server({"CPQR_BILLABLE_EVENT": "offer.presented"})
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        intent = uid("intent_presented")
        shortlisted = expect(
            api.post("/events/receipts", json=receipt(intentId=intent, eventType="shortlisted")), 201
        )
        assert shortlisted["settlement"] is None
        shown = expect(api.post("/events/receipts", json=receipt(intentId=intent, eventType="shown")), 201)
        assert shown["settlement"] is not None
        assert shown["settlement"]["eventType"] == "offer.presented"
        assert shown["settlement"]["amount"] == 120
        again = expect(
            api.post("/events/receipts", json=receipt(intentId=intent, eventType="presented")), 201
        )
        assert again["deduplicated"] is False
        assert len(_settlements_for(api, intent)) == 1
