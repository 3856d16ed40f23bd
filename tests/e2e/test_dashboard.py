"""11. The dashboard's counts and KPI rates, computed by hand from the receipts we send."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pytest

from tests.support import REPO_ROOT, expect, opportunity, receipt, uid

CANONICAL = (
    "offer.shortlisted",
    "offer.presented",
    "owner.viewed",
    "owner.interacted",
    "conversion.attributed",
)


def _seed_with_a_campaign_without_disclosure(tmp_path: Path) -> Path:
    """The default seed plus a campaign without disclosure text (rejected by policy; a draft
    without disclosure is refused at the API, but stored campaigns may still lack one)."""
    seed = json.loads((REPO_ROOT / "data" / "seed.json").read_text(encoding="utf-8"))
    bare = copy.deepcopy(seed["campaigns"][0])
    bare.update(
        campaignId="cmp_bare", status="rejected", policyPass=False, disclosureText="", advertiser="Bare"
    )
    bare["offer"]["offerId"] = "offer_bare"
    bare["proofBundle"]["proofBundleId"] = "proof_bare"
    seed["campaigns"].append(bare)
    path = tmp_path / "seed-with-bare.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def test_dashboard_rates(start_server, tmp_path: Path) -> None:
    server = start_server({"SEED_PATH": str(_seed_with_a_campaign_without_disclosure(tmp_path))})
    with httpx.Client(base_url=server.base_url, timeout=15.0) as api:
        _check_dashboard_rates(api)


def _check_dashboard_rates(api: httpx.Client) -> None:
    empty = expect(api.get("/dashboard"), 200)
    assert empty["mode"] == "default"
    assert empty["activePartners"] == 2
    assert empty["activeCampaigns"] == 2
    assert empty["eventCounts"] == dict.fromkeys(CANONICAL, 0)
    for key in (
        "qualifiedRecommendationRate",
        "detailViewRate",
        "handoffRate",
        "actionConversionRate",
        "disclosureShownRate",
    ):
        assert empty[key] == 0, key  # zero denominators give 0
    assert empty["settlementCount"] == 0
    assert empty["retryJobsOpen"] == 0
    assert empty["dlqOpen"] == 0

    # The seeded campaign without disclosure (rejected by policy, but receipts may still name it).
    bare_id, bare_offer = "cmp_bare", "offer_bare"

    intents = [uid(f"intent_kpi{i}") for i in range(5)]
    for intent in intents:
        expect(api.post("/opportunities/evaluate", json=opportunity(intent)), 200)
    # The same intent evaluated again (a new request, a cache miss) is still one evaluated intent.
    expect(api.post("/opportunities/evaluate", json=opportunity(intents[0], sponsoredSlots=1)), 200)
    i0, i1, i2, i3, _ = intents

    hub = {"campaignId": "cmp_hubflow", "offerId": "offer_hubflow"}
    sig = {"campaignId": "cmp_signalstack", "offerId": "offer_signalstack"}
    sent = [
        receipt(intentId=i0, eventType="presented", **hub),
        receipt(intentId=i0, eventType="shown", **sig),  # a second presented offer for the same intent
        receipt(intentId=i1, eventType="presented", **hub),
        receipt(intentId=i2, eventType="offer.presented", **hub),
        receipt(intentId=i2, eventType="presented", campaignId=bare_id, offerId=bare_offer),  # no disclosure
        receipt(intentId=i0, eventType="viewed", **sig),
        receipt(intentId=i1, eventType="detail_view", **hub),
        receipt(intentId=i0, eventType="handoff", **sig),
        receipt(intentId=i0, eventType="conversion", **sig),
        receipt(intentId=i3, eventType="shortlisted", **hub),
    ]
    for body in sent:
        expect(api.post("/events/receipts", json=body), 201)
    # A repeat is not counted again.
    expect(api.post("/events/receipts", json=sent[0]), 200)

    presented, viewed, interacted, conversions = 5, 2, 1, 1
    presented_with_disclosure = 4
    presented_intents, evaluated_intents = 3, 5

    dash = expect(api.get("/dashboard"), 200)
    assert dash["eventCounts"] == {
        "offer.shortlisted": 1,
        "offer.presented": presented,
        "owner.viewed": viewed,
        "owner.interacted": interacted,
        "conversion.attributed": conversions,
    }
    assert dash["qualifiedRecommendationRate"] == pytest.approx(presented_intents / evaluated_intents)  # 0.6
    assert dash["detailViewRate"] == pytest.approx(viewed / presented)  # 0.4
    assert dash["handoffRate"] == pytest.approx(interacted / viewed)  # 0.5
    assert dash["actionConversionRate"] == pytest.approx(conversions / interacted)  # 1.0
    assert dash["disclosureShownRate"] == pytest.approx(presented_with_disclosure / presented)  # 0.8
    for key in (
        "qualifiedRecommendationRate",
        "detailViewRate",
        "handoffRate",
        "actionConversionRate",
        "disclosureShownRate",
    ):
        assert 0.0 <= dash[key] <= 1.0

    # Settlements: the CPA conversion (900) and the CPQR shortlist (120).
    assert dash["settlementCount"] == 2
    assert dash["settlementsByStatus"]["pending"] == 2
    assert dash["retryJobsOpen"] == 2
    assert dash["dlqOpen"] == 0
    assert dash["activeCampaigns"] == 2  # the bare campaign was rejected
    assert dash["countsByProvenance"]["receipts"]["real_event"] == len(sent)
    assert isinstance(dash["recentAudit"], list) and dash["recentAudit"]
    assert len(dash["recentAudit"]) <= 10

    expect(api.post("/settlements/retry-queue/process", json={}), 200)
    dash = expect(api.get("/dashboard"), 200)
    assert dash["settlementsByStatus"]["settled"] == 2
    assert dash["settlementsByStatus"]["pending"] == 0
    assert dash["retryJobsOpen"] == 0

    # Receipts arrive in any order: more views than presentations still gives a rate in [0, 1].
    for _ in range(4):
        expect(api.post("/events/receipts", json=receipt(intentId=i3, eventType="viewed", **hub)), 201)
    dash = expect(api.get("/dashboard"), 200)
    assert dash["eventCounts"]["owner.viewed"] == viewed + 4
    assert dash["detailViewRate"] == 1.0
    assert dash["handoffRate"] == pytest.approx(interacted / (viewed + 4))
    assert dash["qualifiedRecommendationRate"] == pytest.approx(presented_intents / evaluated_intents)
