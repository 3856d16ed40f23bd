"""3. The seed example of spec §11 through the API, with ``explain``."""

from __future__ import annotations

import httpx
import pytest

from tests.support import expect, opportunity, uid


def test_seed_example_with_explain(readonly_api: httpx.Client) -> None:
    body = expect(
        readonly_api.post(
            "/opportunities/evaluate",
            json=opportunity(uid("intent_seed"), constraints={"geo": ["UK"]}, sponsoredSlots=4, explain=True),
        ),
        200,
    )
    assert body["totalCandidates"] == 4  # 2 campaigns × 2 active partners, before the prefilter
    assert body["eligibleCandidates"] == 2
    shortlisted = body["shortlisted"]
    assert len(shortlisted) == 2
    assert {s["partnerId"] for s in shortlisted} == {"partner_procure_pilot"}
    assert [s["campaignId"] for s in shortlisted] == ["cmp_signalstack", "cmp_hubflow"]
    assert [s["offerId"] for s in shortlisted] == ["offer_signalstack", "offer_hubflow"]
    for item in shortlisted:
        assert item["relevance"] == pytest.approx(1.0)
        assert item["sponsoredFlag"] is True
        assert item["ttlSeconds"] == 300
        assert item["auditTraceId"] == body["intentId"]
        assert item["rankingReason"].startswith("Passed gates and ranked by relevance=1.00, ")
        assert 0.0 <= item["priorityScore"] <= 1.0
        assert 0.0 <= item["trustScore"] <= 1.0
    assert shortlisted[0]["priorityScore"] >= shortlisted[1]["priorityScore"]
    assert shortlisted[0]["bidValue"] == 900
    assert shortlisted[1]["bidValue"] == 120
    # Both campaigns are judged with the same partner and (seeded) proof age: same trust.
    assert shortlisted[0]["trustScore"] == pytest.approx(shortlisted[1]["trustScore"])

    assert "rejected" in body, "explain: true must add rejected[]"
    rejected = body["rejected"]
    assert isinstance(rejected, list)
    assert not [r for r in rejected if r["partnerId"] == "partner_growthdesk"], rejected
    # Both pairs that pass the prefilter are eligible and shortlisted: nothing is left to reject.
    assert rejected == []


def test_without_explain_there_is_no_rejected_list(readonly_api: httpx.Client) -> None:
    body = expect(readonly_api.post("/opportunities/evaluate", json=opportunity(uid("intent_plain"))), 200)
    assert "rejected" not in body or body["rejected"] is None
    assert body["totalCandidates"] == 4


def test_explain_lists_failed_gates(readonly_api: httpx.Client) -> None:
    """A task type the offers are not meant for lowers relevance below the floor: rejected with reasons."""
    body = expect(
        readonly_api.post(
            "/opportunities/evaluate",
            json=opportunity(
                uid("intent_reject"),
                category="hr_software",
                constraints={"geo": ["UK"]},
                explain=True,
            ),
        ),
        200,
    )
    # Neither partner supports hr_software: the prefilter removes every pair.
    assert body["totalCandidates"] == 4
    assert body["eligibleCandidates"] == 0
    assert body["shortlisted"] == []
    assert body["rejected"] == []

    body = expect(
        readonly_api.post(
            "/opportunities/evaluate",
            json=opportunity(
                uid("intent_reject"), relevanceFloor=1.0, constraints={"geo": ["JP"]}, explain=True
            ),
        ),
        200,
    )
    assert body["eligibleCandidates"] == 0
    assert body["shortlisted"] == []
    pairs = {(r["campaignId"], r["partnerId"]) for r in body["rejected"]}
    assert pairs == {("cmp_hubflow", "partner_procure_pilot"), ("cmp_signalstack", "partner_procure_pilot")}
    for r in body["rejected"]:
        assert "relevance" in r["failedGates"], r
        assert r["scores"]["relevance"] < 1.0


def test_sponsored_slots_caps_the_shortlist(readonly_api: httpx.Client) -> None:
    body = expect(
        readonly_api.post("/opportunities/evaluate", json=opportunity(uid("intent_one"), sponsoredSlots=1)),
        200,
    )
    assert body["eligibleCandidates"] == 2
    assert [s["campaignId"] for s in body["shortlisted"]] == ["cmp_signalstack"]
