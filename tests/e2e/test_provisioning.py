"""Provisioning a market through the API, idempotent by id, and a seed with settlements made before it.

POST /partners upserts a partner by ``partnerId`` (201 new, 200 updated or unchanged); POST /campaigns
takes a caller's ``campaignId`` (the same draft again: 200 and the same campaign; another draft: 409).
A seed's ``settlements`` give campaigns their committed spend and partners their disputes. Both
stores (the suite runs on SQLite and on PostgreSQL).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import REPO_ROOT, campaign_draft, error_body, expect, opportunity, uid

from .conftest import StartServer
from .test_api_keys import AGENT, OPERATOR, bearer, toml_keys


def a_partner(partner_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "partnerId": partner_id,
        "dataProvenance": "real_partner",
        "providerOrg": "DealScout",
        "endpoint": "https://dealscout.dev/opportunities",
        "status": "active",
        "supportedCategories": ["crm_software"],
        "acceptsSponsored": True,
        "supportsDisclosure": True,
        "supportsDeliveryReceipt": True,
        "supportsPresentationReceipt": True,
        "trustScore": 0.9,
    }
    return {**body, **overrides}


def partners_by_id(api: httpx.Client) -> dict[str, dict[str, Any]]:
    return {p["partnerId"]: p for p in expect(api.get("/partners"), 200)}


def test_post_partners_creates_then_updates_by_id(fresh_api: httpx.Client) -> None:
    pid = uid("partner_scout")
    created = fresh_api.post("/partners", json=a_partner(pid))
    assert created.status_code == 201, created.text
    assert created.json()["partnerId"] == pid
    # 2 campaigns × 3 active partners now (before the prefilter), and the new one ranks with them.
    body = expect(fresh_api.post("/opportunities/evaluate", json=opportunity(sponsoredSlots=4)), 200)
    assert body["totalCandidates"] == 6
    assert pid in {s["partnerId"] for s in body["shortlisted"]}

    again = fresh_api.post("/partners", json=a_partner(pid))
    assert again.status_code == 200 and again.json() == created.json()

    changed = fresh_api.post("/partners", json=a_partner(pid, trustScore=0.7, status="suspended"))
    assert changed.status_code == 200 and changed.json()["trustScore"] == 0.7
    stored = partners_by_id(fresh_api)[pid]
    assert (stored["baseTrustScore"], stored["status"]) == (0.7, "suspended")
    body = expect(fresh_api.post("/opportunities/evaluate", json=opportunity(sponsoredSlots=4)), 200)
    assert body["totalCandidates"] == 4 and pid not in {s["partnerId"] for s in body["shortlisted"]}

    audit = expect(fresh_api.get("/audit-trail", params={"traceId": pid}), 200)["items"]
    # the repeat wrote nothing
    assert sorted(e["action"] for e in audit) == ["partner.created", "partner.updated"]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"trustScore": 1.5}, "trustScore"), ({"partnerId": ""}, "partnerId"), ({"status": "gone"}, "status")],
)
def test_a_bad_partner_is_400_naming_the_field(api: httpx.Client, change: dict[str, Any], field: str) -> None:
    response = api.post("/partners", json=a_partner(uid("partner_bad"), **change))
    assert response.status_code == 400
    assert field in error_body(response).get("field", "") + error_body(response)["message"]


def test_post_campaigns_with_an_id_is_idempotent(api: httpx.Client) -> None:
    cid = uid("cmp_given")
    draft = campaign_draft(campaignId=cid)
    first = api.post("/campaigns", json=draft)
    assert first.status_code == 201, first.text
    campaign = first.json()["campaign"]
    assert campaign["campaignId"] == cid and campaign["status"] == "reviewing"

    activated = expect(api.post(f"/campaigns/{cid}/activate"), 200)
    assert activated["campaign"]["status"] == "active"

    again = api.post("/campaigns", json=draft)
    assert again.status_code == 200, again.text
    repeat = again.json()
    assert repeat["campaign"]["campaignId"] == cid
    assert repeat["campaign"]["offer"]["offerId"] == campaign["offer"]["offerId"]
    assert repeat["campaign"]["status"] == "active"  # as it is now: sending the draft again changes nothing
    assert repeat["policyCheck"]["policyCheckId"] == first.json()["policyCheck"]["policyCheckId"]
    assert [c["campaignId"] for c in expect(api.get("/campaigns"), 200)].count(cid) == 1

    other = api.post("/campaigns", json={**draft, "budget": draft["budget"] + 1})
    assert other.status_code == 409
    body = error_body(other)
    assert body["field"] == "campaignId" and "budget" in body["message"]
    assert expect(api.get(f"/campaigns/{cid}"), 200)["budget"] == draft["budget"]


def test_provisioning_needs_an_operator_key(start_server: StartServer, tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(toml_keys(OPERATOR, AGENT), encoding="utf-8")
    server = start_server({"API_KEYS_FILE": str(keys)})
    pid = uid("partner_keyed")
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        assert api.post("/partners", json=a_partner(pid)).status_code == 401
        assert api.post("/partners", json=a_partner(pid), headers=bearer(AGENT)).status_code == 403
        assert api.post("/partners", json=a_partner(pid), headers=bearer(OPERATOR)).status_code == 201
        assert pid in partners_by_id(api)
        audit = expect(api.get("/audit-trail", params={"traceId": pid}), 200)["items"]
        assert [e["actorId"] for e in audit] == [OPERATOR["name"]]


def seed_with_settlements(folder: Path) -> Path:
    """The default seed, with HubFlow's budget mostly spent and two disputed settlements of ProcurePilot;
    and a ``wallets`` key this server does not know."""
    seed = json.loads((REPO_ROOT / "data" / "seed.json").read_text(encoding="utf-8"))

    def settlement(sid: str, status: str, amount: float, disputed: bool = False) -> dict[str, Any]:
        return {
            "settlementId": sid,
            "dataProvenance": "demo_seed",
            "campaignId": "cmp_hubflow",
            "offerId": "offer_hubflow",
            "partnerId": "partner_procure_pilot",
            "intentId": f"seed-{sid}",
            "billingModel": "CPQR",
            "eventType": "offer.shortlisted",
            "amount": amount,
            "currency": "USD",
            "attributionWindow": "session",
            "status": status,
            "disputeFlag": disputed,
            "generatedAt": "2026-03-01T00:00:00Z",
            "updatedAt": "2026-03-01T00:00:00Z",
        }

    hubflow = next(c for c in seed["campaigns"] if c["campaignId"] == "cmp_hubflow")
    spent = hubflow["budget"] - hubflow["payoutAmount"] / 2  # not even one more settlement fits
    seed["settlements"] = [
        settlement("set_seed_spend", "settled", spent),
        settlement("set_seed_d1", "disputed", hubflow["payoutAmount"], disputed=True),
        settlement("set_seed_d2", "disputed", hubflow["payoutAmount"], disputed=True),
    ]
    seed["wallets"] = [{"workspaceId": hubflow["workspaceId"], "availableCredits": 12.5}]
    path = folder / "seed-with-settlements.json"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def test_seed_settlements_set_committed_spend_and_disputes(start_server: StartServer, tmp_path: Path) -> None:
    seed = seed_with_settlements(tmp_path / "seed")
    server = start_server({"SEED_PATH": str(seed), "EXCHANGE_CLOCK": "fixed:2026-03-11T12:00:00Z"})
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        stored = {s["settlementId"]: s["status"] for s in expect(api.get("/settlements"), 200)}
        assert stored == {"set_seed_spend": "settled", "set_seed_d1": "disputed", "set_seed_d2": "disputed"}
        # governed trust: 0.84 + 4 × 0.02 (its reputation record) − 2 × 0.05 (the disputed settlements)
        assert partners_by_id(api)["partner_procure_pilot"]["trustScore"] == pytest.approx(0.82, abs=1e-12)
        body = expect(api.post("/opportunities/evaluate", json=opportunity(explain=True)), 200)
        assert [s["campaignId"] for s in body["shortlisted"]] == ["cmp_signalstack"]
        hubflow = [r for r in body["rejected"] if r["campaignId"] == "cmp_hubflow"]
        assert [r["failedGates"] for r in hubflow] == [["budget"]]
        dashboard = expect(api.get("/dashboard"), 200)
        assert dashboard["settlementsByStatus"]["disputed"] == 2 and dashboard["retryJobsOpen"] == 0
