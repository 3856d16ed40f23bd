"""Billing that cannot be gamed, over HTTP (issue #9, spec §6).

A receipt bills only an active campaign, never past its budget (also when many
arrive at once), never from the future; with ``RECEIPT_VERIFICATION`` only what
the exchange itself shortlisted, and with ``signed`` only with the partner's
HMAC. Refused bills are still stored receipts, with the reason, in the audit
trail and on the dashboard.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, campaign_draft, error_body, expect, opportunity, receipt, uid


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _active_campaign(api: httpx.Client, **overrides) -> dict:
    created = expect(api.post("/campaigns", json=campaign_draft(externalRef=uid("ext"), **overrides)), 201)
    campaign = created["campaign"]
    activated = expect(api.post(f"/campaigns/{campaign['campaignId']}/activate"), 200)
    return activated["campaign"]


def _receipt_for(campaign: dict, **overrides) -> dict:
    return receipt(campaignId=campaign["campaignId"], offerId=campaign["offer"]["offerId"], **overrides)


def _audit(api: httpx.Client, entity_id: str) -> list[dict]:
    return expect(api.get("/audit-trail", params={"entityId": entity_id, "pageSize": 100}), 200)["items"]


def test_a_campaign_that_is_not_active_is_never_billed(api: httpx.Client) -> None:
    created = expect(
        api.post(
            "/campaigns",
            json=campaign_draft(externalRef=uid("risky"), product={"claims": ["100% guaranteed"]}),
        ),
        201,
    )
    campaign = created["campaign"]
    assert campaign["status"] == "reviewing"  # held for manual review, never activated
    body = _receipt_for(campaign)
    answer = expect(api.post("/events/receipts", json=body), 201)
    assert answer["settlement"] is None
    assert answer["billable"] is False and answer["billingReason"] == "campaign_not_active"
    assert expect(api.get("/settlements", params={"campaignId": campaign["campaignId"]}), 200) == []
    # The receipt is kept: a repeat is a deduplicated 200 with the same decision.
    again = expect(api.post("/events/receipts", json=body), 200)
    assert again["deduplicated"] is True and again["billingReason"] == "campaign_not_active"
    trail = _audit(api, body["receiptId"])
    refused = [e for e in trail if e["action"] == "receipt.not_billed"]
    assert len(refused) == 1 and refused[0]["details"]["reason"] == "campaign_not_active"
    assert refused[0]["details"]["campaignStatus"] == "reviewing"


def test_a_rejected_campaign_is_never_billed(api: httpx.Client) -> None:
    created = expect(
        api.post("/campaigns", json=campaign_draft(externalRef=uid("bad"), product={"price": 0})), 201
    )
    assert created["campaign"]["status"] == "rejected"
    answer = expect(api.post("/events/receipts", json=_receipt_for(created["campaign"])), 201)
    assert (answer["settlement"], answer["billingReason"]) == (None, "campaign_not_active")


async def test_concurrent_receipts_never_take_a_campaign_past_its_budget(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        campaign = _active_campaign(api, payoutAmount=150, budget=450)  # room for exactly 3 bills
    bodies = [_receipt_for(campaign) for _ in range(24)]  # 24 intents, 24 billable receipts, at once
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        answers = await asyncio.gather(*(client.post("/events/receipts", json=b) for b in bodies))
    assert {a.status_code for a in answers} == {201}
    decided = [a.json() for a in answers]
    billed = [d for d in decided if d["settlement"] is not None]
    assert len(billed) == 3
    assert {d["billingReason"] for d in decided if d["settlement"] is None} == {"budget_exhausted"}
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        stored = expect(api.get("/settlements", params={"campaignId": campaign["campaignId"]}), 200)
        assert sum(s["amount"] for s in stored) == 450
        assert sorted(s["settlementId"] for s in stored) == sorted(
            d["settlement"]["settlementId"] for d in billed
        )
        # The exchange stops serving the spent campaign.
        ranked = expect(
            api.post(
                "/opportunities/evaluate",
                json=opportunity(constraints={"geo": ["US"]}, sponsoredSlots=10, explain=True),
            ),
            200,
        )
        gates = {r["campaignId"]: r["failedGates"] for r in ranked["rejected"]}
        assert "budget" in gates[campaign["campaignId"]]
        dashboard = expect(api.get("/dashboard"), 200)
        assert dashboard["receiptsNotBilled"]["budget_exhausted"] >= 21


def test_a_receipt_from_the_future_is_refused(api: httpx.Client) -> None:
    now = datetime.now(UTC)
    late = receipt(occurredAt=_iso(now + timedelta(minutes=6)))
    refused = api.post("/events/receipts", json=late)
    assert refused.status_code == 400
    body = error_body(refused)
    assert body["field"] == "occurredAt" and "future" in body["message"]
    far = api.post("/events/receipts", json=receipt(occurredAt="2999-01-01T00:00:00Z"))
    assert far.status_code == 400 and error_body(far)["field"] == "occurredAt"
    # Nothing was stored: the same receipt id with a sane time is new.
    fixed = dict(late, occurredAt=_iso(now + timedelta(minutes=4)))  # clock skew within 5 minutes is fine
    assert expect(api.post("/events/receipts", json=fixed), 201)["deduplicated"] is False


# ---------------------------------------------------------------------------
# RECEIPT_VERIFICATION
# ---------------------------------------------------------------------------


def _shortlisted(api: httpx.Client) -> tuple[str, dict]:
    intent = uid("intent")
    ranked = expect(api.post("/opportunities/evaluate", json=opportunity(intent)), 200)
    slot = next(s for s in ranked["shortlisted"] if s["campaignId"] == "cmp_hubflow")
    return intent, slot


def test_shortlist_verification_bills_only_what_the_exchange_served(start_server) -> None:
    server = start_server({"RECEIPT_VERIFICATION": "shortlist"})
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        # An intent the exchange never evaluated: stored, not billed, audited.
        forged = receipt()
        answer = expect(api.post("/events/receipts", json=forged), 201)
        assert answer["settlement"] is None and answer["billingReason"] == "verification_failed"
        assert answer["verification"]["status"] == "failed"
        assert "never shortlisted" in answer["verification"]["reason"]
        trail = _audit(api, forged["receiptId"])
        assert any(
            e["action"] == "receipt.not_billed" and e["details"]["reason"] == "verification_failed"
            for e in trail
        )

        intent, slot = _shortlisted(api)
        # The right intent, but a partner the exchange did not shortlist with it.
        other = expect(
            api.post("/events/receipts", json=receipt(intentId=intent, partnerId="partner_growthdesk")), 201
        )
        assert other["verification"]["status"] == "failed" and other["settlement"] is None
        # The placement that really happened bills.
        good = expect(
            api.post("/events/receipts", json=receipt(intentId=intent, partnerId=slot["partnerId"])), 201
        )
        assert good["verification"]["status"] == "verified"
        assert good["settlement"] is not None and good["billable"] is True

        dashboard = expect(api.get("/dashboard"), 200)
        assert dashboard["unverifiedReceipts"] == 2
        assert dashboard["eventCounts"]["offer.shortlisted"] == 1
        assert dashboard["receiptsNotBilled"] == {"verification_failed": 2}


def _sign(secret: str, body: dict) -> str:
    message = ".".join(
        body[k]
        for k in ("receiptId", "intentId", "offerId", "campaignId", "partnerId", "eventType", "occurredAt")
    )
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_signed_verification_needs_the_partners_hmac(start_server, tmp_path: Path) -> None:
    secret = "s3cret-for-procure-pilot-0123456789"
    secrets_file = tmp_path / "receipt-secrets.json"
    secrets_file.write_text(json.dumps({"partner_procure_pilot": secret}))
    server = start_server({"RECEIPT_VERIFICATION": "signed", "RECEIPT_SIGNING_SECRETS": str(secrets_file)})
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        intent, slot = _shortlisted(api)
        # occurredAt with milliseconds, eventType as an alias: signed exactly as sent.
        body = receipt(
            intentId=intent,
            partnerId=slot["partnerId"],
            eventType="shortlisted",
            occurredAt=_iso(datetime.now(UTC)),
        )
        forged = dict(body, receiptId=uid("rcpt"), signature="0" * 64)
        refused = expect(api.post("/events/receipts", json=forged), 201)
        assert refused["settlement"] is None and refused["verification"]["status"] == "failed"
        assert "signature does not match" in refused["verification"]["reason"]
        # Signed with another secret: refused too.
        wrong = dict(body, receiptId=uid("rcpt"))
        wrong["signature"] = _sign("another-secret-entirely-000000", wrong)
        assert expect(api.post("/events/receipts", json=wrong), 201)["verification"]["status"] == "failed"
        signed = dict(body)
        signed["signature"] = _sign(secret, signed)
        good = expect(api.post("/events/receipts", json=signed), 201)
        assert good["verification"]["status"] == "verified" and good["settlement"] is not None
        assert good["settlement"]["intentId"] == intent


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"RECEIPT_VERIFICATION": "sometimes"}, "RECEIPT_VERIFICATION must be off, shortlist or signed"),
        ({"RECEIPT_VERIFICATION": "signed"}, "RECEIPT_SIGNING_SECRETS"),
        (
            {
                "RECEIPT_VERIFICATION": "off",
                "PROMOTION_AGENT_MODE": "real_test",
                # real_test's backends (never reached: the setting stops the start first)
                "REDIS_URL": "redis://127.0.0.1:1/0",
                "BILLING_ADAPTER_URL": "http://127.0.0.1:1/settlements",
            },
            "refused in real_test",
        ),
        (
            {"RECEIPT_VERIFICATION": "signed", "RECEIPT_SIGNING_SECRETS": "/nonexistent/secrets.json"},
            "cannot read",
        ),
        ({"BILLING_ADAPTER_TIMEOUT_MS": "9000"}, "SETTLEMENT_RETRY_LEASE_MS"),
    ],
)
def test_unusable_settings_stop_the_server_with_one_line(env: dict, needle: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.support import REPO_ROOT

    full = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "PORT": "0", **env}
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        cwd=REPO_ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert "Traceback" not in done.stderr
