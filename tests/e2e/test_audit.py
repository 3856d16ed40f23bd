"""10. The audit trail: pages (newest first), filters, the cache trace of an evaluation."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.support import expect, opportunity, receipt, uid


def _page(api: httpx.Client, **params) -> dict:
    return expect(api.get("/audit-trail", params=params), 200)


def test_audit_pagination_newest_first(api: httpx.Client) -> None:
    intents = [uid(f"intent_page_{i:02d}") for i in range(25)]
    for intent in intents:
        expect(api.post("/opportunities/evaluate", json=opportunity(intent)), 200)

    pages = [_page(api, pageSize=10, page=n) for n in (1, 2, 3)]
    total = pages[0]["total"]
    assert total >= 50  # two events per evaluated intent (cache_miss + opportunity success)
    for number, page in enumerate(pages, start=1):
        assert page["total"] == total
        assert page["page"] == number
        assert page["pageSize"] == 10
        assert len(page["items"]) == min(10, max(0, total - 10 * (number - 1)))
        assert page["hasPreviousPage"] is (number > 1)
        assert page["hasNextPage"] is (number * 10 < total)

    items = [e for page in pages for e in page["items"]]
    ids = [e["auditEventId"] for e in items]
    assert len(set(ids)) == len(ids) == 30  # pages are disjoint

    # Newest first: the last evaluations come first, each intent's opportunity event
    # (written after its cache_miss) ahead of its cache_miss.
    expected = []
    for intent in reversed(intents):
        expected += [(intent, "opportunity", "success"), (intent, "cache", "cache_miss")]
    assert [(e["traceId"], e["entityType"], e["status"]) for e in items] == expected[:30]
    stamps = [datetime.fromisoformat(e["occurredAt"].replace("Z", "+00:00")) for e in items]
    assert stamps == sorted(stamps, reverse=True)

    # Walking every page gives exactly `total` distinct events, and the last page says so.
    everything: list[str] = []
    page_number = 1
    while True:
        page = _page(api, pageSize=7, page=page_number)
        everything += [e["auditEventId"] for e in page["items"]]
        if not page["hasNextPage"]:
            break
        page_number += 1
    assert len(everything) == len(set(everything)) == total
    beyond = _page(api, pageSize=7, page=page_number + 1)
    assert beyond["items"] == []
    assert beyond["hasNextPage"] is False
    assert beyond["hasPreviousPage"] is True


def test_trace_filter_and_cache_events(api: httpx.Client) -> None:
    one = uid("intent_trace_one")
    request = opportunity(one, sponsoredSlots=2)
    first = expect(api.post("/opportunities/evaluate", json=request), 200)
    expect(api.post("/opportunities/evaluate", json=opportunity(uid("intent_trace_other"))), 200)

    trace = _page(api, traceId=one)
    assert trace["total"] == 2
    assert {e["traceId"] for e in trace["items"]} == {one}
    assert {(e["entityType"], e["status"]) for e in trace["items"]} == {
        ("cache", "cache_miss"),
        ("opportunity", "success"),
    }
    (decision,) = [e for e in trace["items"] if e["entityType"] == "opportunity"]
    shortlist = decision["details"]["shortlist"]
    assert [s["campaignId"] for s in shortlist] == [s["campaignId"] for s in first["shortlisted"]]

    again = expect(api.post("/opportunities/evaluate", json=request), 200)
    assert again == first  # served from the cache, identical
    trace = _page(api, traceId=one)
    assert trace["total"] == 3
    assert trace["items"][0]["entityType"] == "cache"
    assert trace["items"][0]["status"] == "cache_hit"
    assert [e["status"] for e in trace["items"]].count("cache_miss") == 1

    # entityType filter combined with traceId.
    only_cache = _page(api, traceId=one, entityType="cache")
    assert only_cache["total"] == 2
    assert {e["entityType"] for e in only_cache["items"]} == {"cache"}

    # A different request for the same intent is a new miss, not a hit.
    expect(api.post("/opportunities/evaluate", json=opportunity(one, sponsoredSlots=1)), 200)
    statuses = [e["status"] for e in _page(api, traceId=one)["items"]]
    assert statuses.count("cache_miss") == 2
    assert statuses.count("cache_hit") == 1


def test_receipt_trace_covers_receipt_and_settlement(api: httpx.Client) -> None:
    trace_id = uid("intent_trace_receipt")
    sent = receipt(intentId=trace_id, eventType="shortlisted")
    posted = expect(api.post("/events/receipts", json=sent), 201)
    trace = _page(api, traceId=trace_id)
    by_type = {e["entityType"]: e for e in trace["items"]}
    assert by_type["receipt"]["entityId"] == sent["receiptId"]
    assert by_type["settlement"]["entityId"] == posted["settlement"]["settlementId"]
    assert by_type["receipt"]["actorType"] == "buyer_agent"
